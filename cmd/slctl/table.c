/* Aligned text tables, bounded lists and the local time format slctl prints. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wchar.h>

#include "slctl.h"

struct table {
	size_t ncols;
	char **cells;			/* row-major; row 0 is the header */
	size_t nrows;
	unsigned char *right;		/* right-aligned columns */
};

/* A copy of s safe for a terminal: control characters become '?'. */
static char *
cell_dup(const char *s)
{
	char *d = strdup(s ? s : "-");
	unsigned char *p;

	if (d == NULL)
		return NULL;
	for (p = (unsigned char *)d; *p != '\0'; p++)
		if (*p < ' ' || *p == 0x7f)
			*p = '?';
	if (d[0] == '\0') {
		free(d);
		d = strdup("-");
	}
	return d;
}

/* Display width of a cell: its characters' columns in the current locale. */
static size_t
cell_width(const char *s)
{
	mbstate_t st;
	size_t w = 0, n;
	wchar_t wc;
	int cw;

	memset(&st, 0, sizeof(st));
	while (*s != '\0') {
		n = mbrtowc(&wc, s, MB_CUR_MAX, &st);
		if (n == (size_t)-1 || n == (size_t)-2) {
			memset(&st, 0, sizeof(st));
			w++;
			s++;
			continue;
		}
		cw = wcwidth(wc);
		w += cw > 0 ? (size_t)cw : 0;
		s += n;
	}
	return w;
}

struct table *
table_new(size_t ncols, const char *const *headers)
{
	struct table *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->ncols = ncols;
	if ((t->right = calloc(ncols, 1)) == NULL || table_add(t, headers) == -1) {
		table_free(t);
		return NULL;
	}
	return t;
}

void
table_right(struct table *t, size_t col)
{
	if (col < t->ncols)
		t->right[col] = 1;
}

int
table_add(struct table *t, const char *const *cells)
{
	char **nv;
	size_t i;

	nv = realloc(t->cells, (t->nrows + 1) * t->ncols * sizeof(*nv));
	if (nv == NULL)
		return -1;
	t->cells = nv;
	for (i = 0; i < t->ncols; i++)
		if ((t->cells[t->nrows * t->ncols + i] = cell_dup(cells[i])) == NULL) {
			while (i-- > 0)
				free(t->cells[t->nrows * t->ncols + i]);
			return -1;
		}
	t->nrows++;
	return 0;
}

size_t
table_rows(const struct table *t)
{
	return t->nrows > 0 ? t->nrows - 1 : 0;
}

/* Columns are separated by two spaces; the last one is not padded. */
int
table_print(struct table *t, FILE *f)
{
	size_t *width, r, c, w;

	if ((width = calloc(t->ncols, sizeof(*width))) == NULL)
		return -1;
	for (r = 0; r < t->nrows; r++)
		for (c = 0; c < t->ncols; c++) {
			w = cell_width(t->cells[r * t->ncols + c]);
			if (w > width[c])
				width[c] = w;
		}
	for (r = 0; r < t->nrows; r++) {
		for (c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];
			size_t pad = width[c] - cell_width(s);
			int last = c + 1 == t->ncols;

			if (t->right[c] && r > 0)
				fprintf(f, "%*s%s", (int)pad, "", s);
			else
				fprintf(f, "%s%*s", s, last ? 0 : (int)pad, "");
			if (!last)
				fputs("  ", f);
		}
		fputc('\n', f);
	}
	free(width);
	return ferror(f) ? -1 : 0;
}

void
table_free(struct table *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t->right);
	free(t);
}

/*
 * Add an item, formatted, to the list in buf (size bytes, the first *off
 * of them used), after sep unless it is the first. Returns -1 when it does
 * not fit: what fits of it is there, and the list is full.
 */
int
fmt_list_add(char *buf, size_t size, size_t *off, const char *sep,
    const char *fmt, ...)
{
	va_list ap;
	size_t o = *off;
	int n;

	if (o > 0) {
		n = snprintf(buf + o, size - o, "%s", sep);
		if (n < 0 || (size_t)n >= size - o)
			return -1;
		o += (size_t)n;
	}
	va_start(ap, fmt);
	n = vsnprintf(buf + o, size - o, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size - o)
		return -1;
	*off = o + (size_t)n;
	return 0;
}

/* "-" for a list that stayed empty. */
void
fmt_list_end(char *buf, size_t size)
{
	if (buf[0] == '\0')
		snprintf(buf, size, "-");
}

/* Local time as YYYY-MM-DD HH:MM:SS. */
void
fmt_time(char *buf, size_t size, double unixtime)
{
	time_t t = (time_t)unixtime;
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL ||
	    strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, size, "%.0f", unixtime);
}
