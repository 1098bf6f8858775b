/*
 * Test harness only (not product code): a tiny C shim over Debian's static
 * libwork_queue.a so that Python (ctypes) can drive a real Work Queue manager.
 *
 * Public work_queue_* functions that take plain arguments are called directly from
 * Python (pulled into the shared object with -Wl,-u,NAME). This file only covers what
 * ctypes cannot reach without knowing struct layouts: task fields, rmsummary values and
 * the stats struct.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rmsummary.h"
#include "work_queue.h"

/* Declare maximum resources (negative = leave unset) for a category. */
void wqt_category_max(struct work_queue *q, const char *category, double cores, double memory_mb,
                      double disk_mb, double gpus)
{
	struct rmsummary *rm = rmsummary_create(-1);
	if (cores >= 0) rmsummary_set(rm, "cores", cores);
	if (memory_mb >= 0) rmsummary_set(rm, "memory", memory_mb);
	if (disk_mb >= 0) rmsummary_set(rm, "disk", disk_mb);
	if (gpus >= 0) rmsummary_set(rm, "gpus", gpus);
	work_queue_specify_category_max_resources(q, category, rm);
	rmsummary_delete(rm);
}

int wqt_task_id(const struct work_queue_task *t) { return t->taskid; }
int wqt_task_result(const struct work_queue_task *t) { return (int)t->result; }
int wqt_task_return_status(const struct work_queue_task *t) { return t->return_status; }
const char *wqt_task_output(const struct work_queue_task *t) { return t->output; }
const char *wqt_task_tag(const struct work_queue_task *t) { return t->tag; }
const char *wqt_task_category(const struct work_queue_task *t) { return t->category; }
const char *wqt_task_host(const struct work_queue_task *t) { return t->host; }

/* JSON text of the measured resources (caller frees with wqt_free), or NULL. */
char *wqt_task_measured_json(const struct work_queue_task *t)
{
	if (!t->resources_measured) return NULL;
	return rmsummary_print_string(t->resources_measured, 0);
}

/* JSON text of the resources allocated to the last attempt (caller frees), or NULL. */
char *wqt_task_allocated_json(const struct work_queue_task *t)
{
	if (!t->resources_allocated) return NULL;
	return rmsummary_print_string(t->resources_allocated, 1);
}

void wqt_free(char *p) { free(p); }

/* Queue figures in a fixed order; Python names them (see manager.py STAT_FIELDS). */
void wqt_stats(struct work_queue *q, int64_t *out)
{
	struct work_queue_stats s;
	memset(&s, 0, sizeof(s));
	work_queue_get_stats(q, &s);
	out[0] = s.workers_connected;
	out[1] = s.workers_idle;
	out[2] = s.workers_busy;
	out[3] = s.tasks_waiting;
	out[4] = s.tasks_on_workers;
	out[5] = s.tasks_running;
	out[6] = s.tasks_with_results;
	out[7] = s.tasks_submitted;
	out[8] = s.tasks_done;
	out[9] = s.tasks_failed;
	out[10] = s.tasks_exhausted_attempts;
}
