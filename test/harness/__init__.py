"""syncopt test harness: throwaway PostgreSQL clusters for the suites."""
