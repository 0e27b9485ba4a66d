/* A SQLite VFS for tests that makes the store fail: installed as the process's default
 * VFS, it passes every call to the real one, except that while a fault is set every
 * write, truncate and sync fails with it (SQLITE_FULL: a full disk; SQLITE_IOERR_WRITE:
 * an I/O error), so a transaction's commit fails as on a real disk and SQLite rolls it
 * back. Memory-mapped reads are off, so every read goes through the VFS too. */
#ifndef SWAP_TESTS_FAULTVFS_H
#define SWAP_TESTS_FAULTVFS_H

/* Installs it as the default VFS (once per process; later calls do nothing). 0 or -1. */
int faultvfs_install(void);

/* The fault every write, truncate and sync returns from now on; 0 for none. */
void faultvfs_set(int sqlite_code);

/* Writes, truncates and syncs refused so far. */
unsigned long faultvfs_refused(void);

#endif
