/*
 * json.c: JSON helpers over jansson: strict decoding of request bodies
 * against a field table, bounded loads of state files, member getters with
 * defaults, and compact dumps.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "util.h"

static int
json_text_ok(const char *s)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++) {
		unsigned char c = (unsigned char)s[n];
		if (c < 0x20 || c == 0x7f || n >= 255)
			return 0;
	}
	return 1;
}

/* What a field of each kind must be, as its error says. */
static const char *const kind_wants[] = {
	[JK_ID] = "a name of 1-64 characters A-Z a-z 0-9 . _ -",
	[JK_TEXT] = "a printable string of at most 255 bytes",
	[JK_UINT] = "a non-negative integer",
	[JK_NUMBER] = "a non-negative number",
	[JK_BOOL] = "true or false",
};

static int
js_kind_ok(json_t *v, enum js_kind kind)
{
	switch (kind) {
	case JK_ID:
		return json_is_string(v) && util_valid_id(json_string_value(v));
	case JK_TEXT:
		return json_is_string(v) && json_text_ok(json_string_value(v));
	case JK_UINT:
		return json_is_integer(v) && json_integer_value(v) >= 0;
	case JK_NUMBER:
		return json_is_number(v) && !(json_number_value(v) < 0);
	case JK_BOOL:
		return json_is_boolean(v);
	case JK_ANY:
		return 1;
	}
	return 0;
}

static int
json_field_check(const char *name, json_t *v, enum js_kind kind, char *err, size_t errlen)
{
	if (js_kind_ok(v, kind))
		return 0;
	if ((size_t)kind < nitems(kind_wants) && kind_wants[kind] != NULL)
		snprintf(err, errlen, "field \"%s\": want %s", name, kind_wants[kind]);
	return -1;
}

json_t *
js_decode_object(const char *text, size_t len, const struct js_field *fields,
    int allow_empty, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *obj, *v;
	const char *key;

	if (len == 0) {
		if (allow_empty)
			return json_object();
		snprintf(err, errlen, "empty body: want a JSON object");
		return NULL;
	}
	obj = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (obj == NULL) {
		snprintf(err, errlen, "malformed JSON at line %d column %d: %s",
		    jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(obj)) {
		snprintf(err, errlen, "want a JSON object");
		goto bad;
	}
	json_object_foreach(obj, key, v) {
		const struct js_field *f;
		for (f = fields; f->name != NULL; f++)
			if (strcmp(f->name, key) == 0)
				break;
		if (f->name == NULL) {
			char safe[80];
			size_t i;
			for (i = 0; key[i] != '\0' && i < sizeof(safe) - 1; i++)
				safe[i] = (key[i] >= 0x20 && key[i] < 0x7f) ? key[i] : '?';
			safe[i] = '\0';
			snprintf(err, errlen, "unknown field \"%s\"", safe);
			goto bad;
		}
		if (json_field_check(key, v, f->kind, err, errlen) != 0)
			goto bad;
	}
	for (const struct js_field *f = fields; f->name != NULL; f++) {
		if (f->required && json_object_get(obj, f->name) == NULL) {
			snprintf(err, errlen, "missing field \"%s\"", f->name);
			goto bad;
		}
	}
	return obj;
bad:
	json_decref(obj);
	return NULL;
}

const char *
js_str(const json_t *obj, const char *key, const char *dflt)
{
	json_t *v = json_object_get(obj, key);

	return json_is_string(v) ? json_string_value(v) : dflt;
}

long long
js_int(const json_t *obj, const char *key, long long dflt)
{
	json_t *v = json_object_get(obj, key);

	return json_is_integer(v) ? json_integer_value(v) : dflt;
}

char *
js_compact(const json_t *o, size_t extra, size_t *lenp)
{
	char stack[2048];
	size_t n = json_dumpb(o, stack, sizeof(stack), JSON_COMPACT);
	char *out;

	if (n == 0 || (out = malloc(n + extra + 1)) == NULL)
		return NULL;
	if (n <= sizeof(stack))
		memcpy(out, stack, n);
	else if (json_dumpb(o, out, n, JSON_COMPACT) != n) {
		free(out);
		return NULL;
	}
	out[n] = '\0';
	*lenp = n;
	return out;
}

json_t *
js_load_path(const char *path, size_t max, json_error_t *error)
{
	size_t len;
	char *text = util_read_file_max(path, max, &len);
	json_t *o;

	if (text == NULL) {
		if (error != NULL) {
			memset(error, 0, sizeof(*error));
			error->line = error->column = error->position = -1;
			util_strlcpy(error->source, path, sizeof(error->source));
			util_strlcpy(error->text, util_read_strerror(errno), sizeof(error->text));
		}
		return NULL;
	}
	o = js_loadb(text, len, error);
	free(text);
	return o;
}

/* JSON's white space (RFC 8259): a space, a tab, a line feed, a return. */
int
js_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* At text[i], a string: the index past its closing quote; len if none. */
static size_t
js_skip_str(const char *text, size_t len, size_t i)
{
	for (i++; i < len; i++) {
		/* memchr: most of a record's bytes are in its strings */
		const char *q = memchr(text + i, '"', len - i);
		if (q == NULL)
			return len;
		size_t e = (size_t)(q - text), bs = 0;
		while (e - bs > i && text[e - bs - 1] == '\\')
			bs++;
		i = e;
		if (bs % 2 == 0)
			return e + 1;
	}
	return len;
}

int
js_iter_init(struct js_iter *it, const char *text, size_t len)
{
	size_t i = 0;

	while (i < len && js_ws(text[i]))
		i++;
	if (i >= len || (text[i] != '{' && text[i] != '['))
		return -1;
	it->text = text;
	it->len = len;
	it->obj = text[i] == '{';
	it->i = i + 1;
	return 0;
}

/*
 * The next member or element of the container it was started on: the key's
 * bytes as written (objects), and where the value's text is. A scan that
 * skips strings and counts brackets: the text must have been parsed as JSON
 * already. 1: one more; 0: the end; -1: not what JSON would be.
 */
int
js_iter_next(struct js_iter *it, const char **key, size_t *klen, size_t *off, size_t *vlen)
{
	const char *t = it->text;
	size_t len = it->len, i = it->i;

	while (i < len && (js_ws(t[i]) || t[i] == ','))
		i++;
	if (i >= len)
		return -1;
	if (t[i] == (it->obj ? '}' : ']')) {
		it->i = len;
		return 0;
	}
	if (it->obj) {
		if (t[i] != '"')
			return -1;
		size_t e = js_skip_str(t, len, i);
		if (e >= len)
			return -1;
		if (key != NULL) {
			*key = t + i + 1;
			*klen = e - i - 2;
		}
		for (i = e; i < len && (js_ws(t[i]) || t[i] == ':'); i++)
			;
	}
	size_t start = i;
	if (i >= len) {
		return -1;
	} else if (t[i] == '"') {
		i = js_skip_str(t, len, i);
	} else if (t[i] == '{' || t[i] == '[') {
		int depth = 0;
		for (; i < len; i++) {
			char c = t[i];
			if (c == '"')
				i = js_skip_str(t, len, i) - 1;
			else if (c == '{' || c == '[')
				depth++;
			else if ((c == '}' || c == ']') && --depth == 0)
				break;
		}
		if (i++ >= len)
			return -1;
	} else {
		while (i < len && t[i] != ',' && t[i] != '}' && t[i] != ']' && !js_ws(t[i]))
			i++;
	}
	if (i == start)
		return -1;
	*off = start;
	*vlen = i - start;
	it->i = i;
	return 1;
}

/* The value of member key of the object text: the last of a repeated key
 * (as jansson reads it), or with first, the first, and no further look. */
static int
js_member_find(const char *text, size_t len, const char *key, int first, size_t *off,
    size_t *vlen)
{
	struct js_iter it;
	const char *k;
	size_t kl, o, vl, want = strlen(key);
	int found = -1;

	if (js_iter_init(&it, text, len) != 0 || !it.obj)
		return -1;
	while (js_iter_next(&it, &k, &kl, &o, &vl) == 1)
		if (kl == want && memcmp(k, key, kl) == 0) {
			*off = o;
			*vlen = vl;
			found = 0;
			if (first)
				break;
		}
	return found;
}

int
js_member_span(const char *text, size_t len, const char *key, size_t *off, size_t *vlen)
{
	return js_member_find(text, len, key, 0, off, vlen);
}

int
js_member_first(const char *text, size_t len, const char *key, size_t *off, size_t *vlen)
{
	return js_member_find(text, len, key, 1, off, vlen);
}

/*
 * A decoder for the JSON that sl's servers send each other, many times
 * cheaper than json_loadb on a poll's answer (jansson reads a byte at a
 * time through a stream and copies every string through a buffer; its
 * decoding was a quarter of a busy backup's CPU). It builds the same
 * values, and takes only what it decodes as jansson would without a doubt:
 * objects and arrays (a bound on nesting), strings of ASCII printable
 * bytes without escapes, integers of at most 18 digits, true, false and
 * null. Anything else (an escape, a byte >= 0x80, a real, a syntax error)
 * returns NULL: the caller decodes with jansson, which also says what is
 * wrong.
 */
#define JS_FAST_DEPTH 32

struct js_fast {
	const unsigned char *p, *end;
	int depth;
	int check;		/* build nothing: a value that parses is JS_FAST_OK */
};
static json_t js_fast_ok;
#define JS_FAST_OK (&js_fast_ok)

static void
js_fast_ws(struct js_fast *f)
{
	while (f->p < f->end && js_ws((char)*f->p))
		f->p++;
}

/* At '"': the string's bytes, f past its closing quote. */
static int
js_fast_str(struct js_fast *f, const char **s, size_t *n)
{
	const unsigned char *b = ++f->p;

	for (; f->p < f->end; f->p++) {
		unsigned char c = *f->p;
		if (c == '"') {
			*s = (const char *)b;
			*n = (size_t)(f->p - b);
			f->p++;
			return 0;
		}
		if (c == '\\' || c < 0x20 || c >= 0x80)
			return -1;
	}
	return -1;
}

static json_t *js_fast_value(struct js_fast *f);

/* At '{' or '[': the object or the array, its members or elements
 * decoded in turn. */
static json_t *
js_fast_container(struct js_fast *f)
{
	int obj = *f->p == '{';
	unsigned char close = obj ? '}' : ']';
	json_t *c = f->check ? JS_FAST_OK : obj ? json_object() : json_array();
	const char *k = NULL;
	size_t kl = 0;

	f->p++;
	js_fast_ws(f);
	if (f->p < f->end && *f->p == close) {
		f->p++;
		return c;
	}
	while (c != NULL) {
		if (obj) {
			if (f->p >= f->end || *f->p != '"' || js_fast_str(f, &k, &kl) != 0)
				break;
			js_fast_ws(f);
			if (f->p >= f->end || *f->p++ != ':')
				break;
			js_fast_ws(f);
		}
		json_t *v = js_fast_value(f);
		/* A key again replaces its value, as in jansson. */
		if (v == NULL || (!f->check && (obj ? json_object_setn_new_nocheck(c, k, kl, v) :
		    json_array_append_new(c, v)) != 0))
			break;
		js_fast_ws(f);
		if (f->p < f->end && *f->p == ',') {
			f->p++;
			js_fast_ws(f);
			continue;
		}
		if (f->p < f->end && *f->p == close) {
			f->p++;
			return c;
		}
		break;
	}
	if (!f->check)
		json_decref(c);
	return NULL;
}

static json_t *
js_fast_int(struct js_fast *f)
{
	long long v = 0;
	int neg = 0, digits = 0;

	if (*f->p == '-') {
		neg = 1;
		f->p++;
	}
	if (f->p < f->end && *f->p == '0') {
		f->p++;
		digits = 1;
	} else {
		for (; f->p < f->end && *f->p >= '0' && *f->p <= '9'; f->p++, digits++) {
			if (digits == 18)
				return NULL;
			v = v * 10 + (*f->p - '0');
		}
	}
	/* a real, an exponent, a leading zero before more digits */
	if (digits == 0 || (f->p < f->end && ((*f->p >= '0' && *f->p <= '9') || *f->p == '.' ||
	    *f->p == 'e' || *f->p == 'E')))
		return NULL;
	return f->check ? JS_FAST_OK : json_integer(neg ? -v : v);
}

static int
js_fast_word(struct js_fast *f, const char *w, size_t n)
{
	if ((size_t)(f->end - f->p) < n || memcmp(f->p, w, n) != 0)
		return -1;
	f->p += n;
	return 0;
}

static json_t *
js_fast_value(struct js_fast *f)
{
	json_t *v = NULL;
	const char *s;
	size_t n;

	if (f->p >= f->end || f->depth >= JS_FAST_DEPTH)
		return NULL;
	f->depth++;
	switch (*f->p) {
	case '{':
	case '[':
		v = js_fast_container(f);
		break;
	case '"':
		if (js_fast_str(f, &s, &n) == 0)
			v = f->check ? JS_FAST_OK : json_stringn_nocheck(s, n);
		break;
	case 't':
		v = js_fast_word(f, "true", 4) == 0 ? json_true() : NULL;
		break;
	case 'f':
		v = js_fast_word(f, "false", 5) == 0 ? json_false() : NULL;
		break;
	case 'n':
		v = js_fast_word(f, "null", 4) == 0 ? json_null() : NULL;
		break;
	default:
		if (*f->p == '-' || (*f->p >= '0' && *f->p <= '9'))
			v = js_fast_int(f);
		break;
	}
	f->depth--;
	return v;
}

/* The object or array text decoded, or with check, only parsed. */
static json_t *
js_fast_top(const char *text, size_t len, int check)
{
	struct js_fast f = { (const unsigned char *)text, (const unsigned char *)text + len, 0,
	    check };
	json_t *v;

	if (text == NULL)
		return NULL;
	js_fast_ws(&f);
	/* jansson takes an object or an array, then only white space */
	if (f.p >= f.end || (*f.p != '{' && *f.p != '['))
		return NULL;
	if ((v = js_fast_value(&f)) == NULL)
		return NULL;
	js_fast_ws(&f);
	if (f.p != f.end) {
		if (!check)
			json_decref(v);
		return NULL;
	}
	return v;
}

json_t *
js_loadb_fast(const char *text, size_t len)
{
	return js_fast_top(text, len, 0);
}

int
js_fast_valid(const char *text, size_t len)
{
	return js_fast_top(text, len, 1) != NULL;
}

json_t *
js_loadb(const char *text, size_t len, json_error_t *error)
{
	json_t *v = js_loadb_fast(text, len);

	return v != NULL ? v : json_loadb(text, len, 0, error);
}
