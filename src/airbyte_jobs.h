/*-------------------------------------------------------------------------
 *
 * airbyte_jobs.h
 *	  One Airbyte GET /jobs page (api.yaml's JobsResponse), checked and
 *	  turned into the runs it reports (airbyte_jobs_parse.c), for
 *	  syncopt.ingest_airbyte_jobs() (ingest_airbyte_jobs.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef SYNCOPT_AIRBYTE_JOBS_H
#define SYNCOPT_AIRBYTE_JOBS_H

#include "datatype/timestamp.h"
#include "utils/jsonb.h"

/* One sync or refresh job of the page, as a sync_run row. */
typedef struct AirbyteRun
{
	char	   *connection_id;	/* the job's connectionId */
	char	   *job_id;			/* jobId, as text */
	const char *status;			/* running, succeeded, failed or cancelled */
	TimestampTz started_at;
	TimestampTz finished_at;	/* when status is not running */
	bool		has_rows;
	int64		rows;
	bool		has_bytes;
	int64		bytes;
	bool		full_sync;		/* a refresh job */
	bool		duration_known;
	int			position;		/* index in the page's data array */
} AirbyteRun;

/*
 * The runs of the page: reset and clear jobs are left out, and a job listed
 * twice counts once (its finished listing, else the later one).  Raises the
 * ingestion error naming the first bad field of a malformed page.
 */
extern AirbyteRun *airbyte_jobs_parse(Jsonb *page, int *nruns);

#endif							/* SYNCOPT_AIRBYTE_JOBS_H */
