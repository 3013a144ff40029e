/* Temporary files for the harnesses: one private directory per process,
 * removed at exit. */
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "state.h"

static char dir[64];

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
rm_dir(void)
{
	nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

const char *
fuzz_dir(void)
{
	if (dir[0] == '\0') {
		snprintf(dir, sizeof(dir), "%s/sl-fuzz.XXXXXX",
		    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
		if (mkdtemp(dir) == NULL) {
			perror("mkdtemp");
			abort();
		}
		atexit(rm_dir);
	}
	return dir;
}

const char *
fuzz_file(const char *base, const uint8_t *data, size_t size)
{
	static char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", fuzz_dir(), base);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0 ||
	    state_write_all(fd, data, size) != 0) {
		perror(path);
		abort();
	}
	close(fd);
	return path;
}
