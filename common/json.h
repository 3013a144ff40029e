/* JSON helpers over jansson, named js_ outside its json_ namespace: strict
 * request decoding, bounded state file loads, member getters, compact dumps. */
#ifndef SL_JSON_H
#define SL_JSON_H

#include <stddef.h>

#include <jansson.h>

enum js_kind {
	JK_ID,		/* string matching util_valid_id */
	JK_TEXT,	/* printable string up to 255 bytes */
	JK_UINT,	/* integer >= 0 */
	JK_NUMBER,	/* integer or real >= 0 */
	JK_BOOL,
	JK_ANY,
};

struct js_field {
	const char *name;
	enum js_kind kind;
	int required;
};

/* Parse text as one JSON object and check it against fields: unknown
 * fields, wrong types and missing required fields are errors. Returns the
 * object, or NULL with err set ("field \"x\": ..."). An empty body is an
 * empty object when allow_empty is set. */
json_t *js_decode_object(const char *text, size_t len, const struct js_field *fields,
    int allow_empty, char *err, size_t errlen);

/* json_load_file(path, 0, error) for a state file: a regular file of at
 * most max bytes (util_read_file_max); a read failure sets error's line to
 * -1 and its text to why. NULL on error; error may be NULL. */
json_t *js_load_path(const char *path, size_t max, json_error_t *error);

/* Get a string member or a default. */
const char *js_str(const json_t *obj, const char *key, const char *dflt);
long long js_int(const json_t *obj, const char *key, long long dflt);

/* o as compact JSON text in a new buffer with room for extra more bytes
 * after the text and its NUL; *lenp gets the text's length. NULL if o cannot
 * be dumped or memory is short. Cheaper than json_dumps, which grows its
 * buffer from 16 bytes by doubling and then copies it once more. */
char *js_compact(const json_t *o, size_t extra, size_t *lenp);

/* Is c JSON white space? */
int js_ws(char c);

/* Where the value of the top-level member key of the object text is,
 * without parsing it: *off and *vlen. -1: no such member. */
int js_member_span(const char *text, size_t len, const char *key, size_t *off, size_t *vlen);
/* The same, the first of a repeated key: a scan that stops there, for text
 * known to name key once at most. */
int js_member_first(const char *text, size_t len, const char *key, size_t *off, size_t *vlen);

/* The members of an object's or the elements of an array's JSON text, in
 * turn, without parsing them (js_iter_next, json.c); the text must have been
 * parsed already (js_fast_valid). */
struct js_iter {
	const char *text;
	size_t len, i;
	int obj;
};
int js_iter_init(struct js_iter *it, const char *text, size_t len);
int js_iter_next(struct js_iter *it, const char **key, size_t *klen, size_t *off, size_t *vlen);

/* JSON text (an object or an array) decoded as json_loadb(text, len, 0)
 * would, by a faster path for what sl's servers send each other; NULL when
 * text holds anything that path leaves to jansson (escapes, bytes >= 0x80,
 * reals) or is malformed. js_loadb: that path, else json_loadb (error set). */
json_t *js_loadb_fast(const char *text, size_t len);
/* 1: js_loadb_fast would decode text (nothing is built to tell). */
int js_fast_valid(const char *text, size_t len);
json_t *js_loadb(const char *text, size_t len, json_error_t *error);

#endif
