/* A SQLite VFS that fails writes on demand; see faultvfs.h. */
#include "faultvfs.h"

#include <sqlite3.h>
#include <string.h>

static int cp_vfs_fault;          /* 0, SQLITE_FULL or SQLITE_IOERR_WRITE */
static unsigned long cp_vfs_refused;

struct cp_file {
    sqlite3_file base;
    sqlite3_file *real;           /* follows this struct in the same allocation */
};

static sqlite3_vfs cp_vfs, *cp_real_vfs;

#define CP_REAL(f) (((struct cp_file *)(f))->real)

static int cpf_close(sqlite3_file *f)
{
    int rc = CP_REAL(f)->pMethods ? CP_REAL(f)->pMethods->xClose(CP_REAL(f)) : SQLITE_OK;
    return rc;
}
static int cpf_read(sqlite3_file *f, void *b, int n, sqlite3_int64 off)
{
    return CP_REAL(f)->pMethods->xRead(CP_REAL(f), b, n, off);
}
static int cpf_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 off)
{
    if (cp_vfs_fault) {
        cp_vfs_refused++;
        return cp_vfs_fault;
    }
    return CP_REAL(f)->pMethods->xWrite(CP_REAL(f), b, n, off);
}
static int cpf_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    if (cp_vfs_fault)
        return cp_vfs_fault == SQLITE_FULL ? SQLITE_FULL : SQLITE_IOERR_TRUNCATE;
    return CP_REAL(f)->pMethods->xTruncate(CP_REAL(f), size);
}
static int cpf_sync(sqlite3_file *f, int flags)
{
    if (cp_vfs_fault)
        return cp_vfs_fault == SQLITE_FULL ? SQLITE_FULL : SQLITE_IOERR_FSYNC;
    return CP_REAL(f)->pMethods->xSync(CP_REAL(f), flags);
}
static int cpf_size(sqlite3_file *f, sqlite3_int64 *size) { return CP_REAL(f)->pMethods->xFileSize(CP_REAL(f), size); }
static int cpf_lock(sqlite3_file *f, int l) { return CP_REAL(f)->pMethods->xLock(CP_REAL(f), l); }
static int cpf_unlock(sqlite3_file *f, int l) { return CP_REAL(f)->pMethods->xUnlock(CP_REAL(f), l); }
static int cpf_check(sqlite3_file *f, int *out) { return CP_REAL(f)->pMethods->xCheckReservedLock(CP_REAL(f), out); }
static int cpf_ctl(sqlite3_file *f, int op, void *arg) { return CP_REAL(f)->pMethods->xFileControl(CP_REAL(f), op, arg); }
static int cpf_sector(sqlite3_file *f) { return CP_REAL(f)->pMethods->xSectorSize(CP_REAL(f)); }
static int cpf_caps(sqlite3_file *f) { return CP_REAL(f)->pMethods->xDeviceCharacteristics(CP_REAL(f)); }
static int cpf_shm_map(sqlite3_file *f, int pg, int sz, int ext, void volatile **pp)
{
    return CP_REAL(f)->pMethods->xShmMap(CP_REAL(f), pg, sz, ext, pp);
}
static int cpf_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
    return CP_REAL(f)->pMethods->xShmLock(CP_REAL(f), off, n, flags);
}
static void cpf_shm_barrier(sqlite3_file *f) { CP_REAL(f)->pMethods->xShmBarrier(CP_REAL(f)); }
static int cpf_shm_unmap(sqlite3_file *f, int del) { return CP_REAL(f)->pMethods->xShmUnmap(CP_REAL(f), del); }
static int cpf_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
    *pp = NULL;   /* no memory-mapped reads: every read goes through xRead */
    (void)f, (void)off, (void)n;
    return SQLITE_OK;
}
static int cpf_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    (void)f, (void)off, (void)p;
    return SQLITE_OK;
}

static const sqlite3_io_methods cp_io = {
    3, cpf_close, cpf_read, cpf_write, cpf_truncate, cpf_sync, cpf_size, cpf_lock, cpf_unlock, cpf_check,
    cpf_ctl, cpf_sector, cpf_caps, cpf_shm_map, cpf_shm_lock, cpf_shm_barrier, cpf_shm_unmap, cpf_fetch,
    cpf_unfetch,
};

static int cpv_open(sqlite3_vfs *v, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
    (void)v;
    struct cp_file *cf = (struct cp_file *)f;
    cf->real = (sqlite3_file *)(cf + 1);
    memset(cf->real, 0, (size_t)cp_real_vfs->szOsFile);
    int rc = cp_real_vfs->xOpen(cp_real_vfs, name, cf->real, flags, out_flags);
    f->pMethods = rc == SQLITE_OK ? &cp_io : NULL;
    return rc;
}
static int cpv_delete(sqlite3_vfs *v, const char *n, int sync)
{
    (void)v;
    return cp_real_vfs->xDelete(cp_real_vfs, n, sync);
}
static int cpv_access(sqlite3_vfs *v, const char *n, int flags, int *out)
{
    (void)v;
    return cp_real_vfs->xAccess(cp_real_vfs, n, flags, out);
}
static int cpv_full(sqlite3_vfs *v, const char *n, int size, char *out)
{
    (void)v;
    return cp_real_vfs->xFullPathname(cp_real_vfs, n, size, out);
}
static int cpv_random(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return cp_real_vfs->xRandomness(cp_real_vfs, n, out);
}
static int cpv_sleep(sqlite3_vfs *v, int us)
{
    (void)v;
    return cp_real_vfs->xSleep(cp_real_vfs, us);
}
static int cpv_time(sqlite3_vfs *v, double *out)
{
    (void)v;
    return cp_real_vfs->xCurrentTime(cp_real_vfs, out);
}
static int cpv_error(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return cp_real_vfs->xGetLastError(cp_real_vfs, n, out);
}
static int cpv_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
    (void)v;
    return cp_real_vfs->xCurrentTimeInt64(cp_real_vfs, out);
}

int faultvfs_install(void)
{
    if (cp_real_vfs)
        return 0;
    sqlite3_vfs *real = sqlite3_vfs_find(NULL);
    if (!real || real->iVersion < 2)
        return -1;
    cp_real_vfs = real;
    cp_vfs = (sqlite3_vfs){
        .iVersion = 2, .szOsFile = (int)sizeof(struct cp_file) + real->szOsFile, .mxPathname = real->mxPathname,
        .zName = "swap-campaign", .xOpen = cpv_open, .xDelete = cpv_delete, .xAccess = cpv_access,
        .xFullPathname = cpv_full, .xDlOpen = real->xDlOpen, .xDlError = real->xDlError, .xDlSym = real->xDlSym,
        .xDlClose = real->xDlClose, .xRandomness = cpv_random, .xSleep = cpv_sleep, .xCurrentTime = cpv_time,
        .xGetLastError = cpv_error, .xCurrentTimeInt64 = cpv_time64,
    };
    return sqlite3_vfs_register(&cp_vfs, 1) == SQLITE_OK ? 0 : -1;
}

void faultvfs_set(int code)
{
    cp_vfs_fault = code;
}

unsigned long faultvfs_refused(void)
{
    return cp_vfs_refused;
}
