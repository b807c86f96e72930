/* Per-thread error state: the library reports, the caller decides what to print. */
#include "hinge/core.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define HG_ERROR_MAX 1024

static _Thread_local char error_message[HG_ERROR_MAX];
static _Thread_local hg_status error_status;

hg_status hg_error(hg_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_message, sizeof error_message, fmt, ap);
    va_end(ap);
    error_status = status;
    return status;
}

hg_status hg_error_context(hg_status status, const char *fmt, ...)
{
    char prefix[HG_ERROR_MAX];
    char old[HG_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, error_message, sizeof old);
    snprintf(error_message, sizeof error_message, "%s: %s", prefix, old);
    if (error_status == HG_OK)
        error_status = status;
    return status;
}

const char *hg_error_message(void) { return error_message[0] ? error_message : "no error"; }

hg_status hg_error_status(void) { return error_status; }

void hg_error_clear(void)
{
    error_message[0] = '\0';
    error_status = HG_OK;
}

const char *hg_status_name(hg_status status)
{
    switch (status) {
    case HG_OK: return "ok";
    case HG_ERR_INVALID: return "invalid argument";
    case HG_ERR_NOMEM: return "out of memory";
    case HG_ERR_IO: return "i/o error";
    case HG_ERR_FORMAT: return "corrupt or unexpected file";
    case HG_ERR_NUMERIC: return "numerical failure";
    case HG_ERR_UNSUPPORTED: return "unsupported";
    case HG_ERR_STATE: return "wrong state";
    }
    return "unknown status";
}
