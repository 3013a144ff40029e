/* Run a libFuzzer harness over files without libFuzzer: each argument is a
 * file, or a directory whose files are all run. `make test` replays every
 * corpus in test/fuzz/corpus-NAME/ so that what the fuzzers found stays
 * fixed. Prints how many inputs ran; a crash is the harness's own abort or
 * a sanitizer report. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "util.h"

static int
run_file(const char *path)
{
	size_t len;
	char *data = util_read_file(path, &len);

	if (data == NULL) {
		perror(path);
		return -1;
	}
	LLVMFuzzerTestOneInput((const uint8_t *)data, len);
	free(data);
	return 0;
}

int
main(int argc, char **argv)
{
	long ran = 0;
	int failed = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) != 0) {
			perror(argv[i]);
			failed = 1;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (run_file(argv[i]) != 0)
				failed = 1;
			else
				ran++;
			continue;
		}
		struct dirent **names;
		int n = scandir(argv[i], &names, NULL, alphasort);
		for (int k = 0; k < n; k++) {
			char path[4096];
			snprintf(path, sizeof(path), "%s/%s", argv[i], names[k]->d_name);
			if (names[k]->d_name[0] != '.' && stat(path, &st) == 0 &&
			    S_ISREG(st.st_mode)) {
				if (run_file(path) != 0)
					failed = 1;
				else
					ran++;
			}
			free(names[k]);
		}
		free(names);
	}
	printf("%ld inputs\n", ran);
	return failed;
}
