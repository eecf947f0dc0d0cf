/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * The config schema against what people read: every row is documented in
 * man/meshdns.conf.5 (with the range and default the row has) and shown
 * in etc/meshdns.conf, the manual documents no key the table lacks, the
 * defaults lie in their ranges and are what config_parse() gives, and
 * the reload check names what needs a restart.
 *
 * A manual key is a ".TP" paragraph whose tag is ".BR NAME \" (TYPE...)\""
 * (or "NAME \", \" NAME2"), in a section of keys: see key_prefix().
 * The files are found under $SRCDIR (set by the test harness), else under
 * the source directory compiled in.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meshdns/config.h"
#include "meshdns/config_schema.h"
#include "suites.h"

#ifndef MESHDNS_SRCDIR
#define MESHDNS_SRCDIR "."
#endif

#define MAX_DOC_KEYS	256

struct doc_key {
	char name[96];			/* dotted, as in the table */
	char text[160];			/* "(integer 0\(en3600, default 5)" */
};

static struct doc_key docs[MAX_DOC_KEYS];
static size_t n_docs;
static char *conf_text;			/* etc/meshdns.conf */

static char *read_source_file(const char *rel)
{
	const char *dir = getenv("SRCDIR");
	char path[512];
	char *text;
	long n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : MESHDNS_SRCDIR, rel);
	f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)n + 1);
	ck_assert_ptr_nonnull(text);
	ck_assert_uint_eq(fread(text, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return text;
}

/* The table's prefix for the keys of a manual section; NULL: no keys. */
static const char *key_prefix(const char *heading)
{
	static const char *const map[][2] = {
		{ "TOP-LEVEL KEYS", "" }, { "NODE AND ZONES", "" }, { "PROBING", "" },
		{ "KUBERNETES", "" }, { "FORWARDING", "" },
		{ "SERVICES", "services[]." }, { "PORTS", "services[].ports[]." },
		{ "ENDPOINTS", "services[].endpoints[]." }, { "PROBE", "services[].probe." },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (strcmp(heading, map[i][0]) == 0)
			return map[i][1];
	}
	return NULL;
}

/* The next roff argument of @p *s: a "quoted" one or a word. */
static bool roff_arg(const char **s, char *out, size_t len)
{
	const char *p = *s;
	size_t n = 0;

	while (*p == ' ')
		p++;
	if (!*p)
		return false;
	if (*p == '"') {
		for (p++; *p && *p != '"'; p++)
			if (n + 1 < len)
				out[n++] = *p;
		if (*p)
			p++;
	} else {
		for (; *p && *p != ' '; p++)
			if (n + 1 < len)
				out[n++] = *p;
	}
	out[n] = '\0';
	*s = p;
	return true;
}

static void add_doc(const char *prefix, const char *name, const char *text)
{
	int n;

	ck_assert_uint_lt(n_docs, MAX_DOC_KEYS);
	n = snprintf(docs[n_docs].name, sizeof(docs[0].name), "%s%s", prefix, name);
	ck_assert_msg(n > 0 && (size_t)n < sizeof(docs[0].name), "%s: too long", name);
	n = snprintf(docs[n_docs].text, sizeof(docs[0].text), "%s", text);
	ck_assert_msg(n >= 0 && (size_t)n < sizeof(docs[0].text), "%s: too long", text);
	n_docs++;
}

/* ".BR a \", \" b \" (type, default \" x )" -> keys a and b, "(type, default x)" */
static void parse_tag(const char *prefix, const char *line)
{
	char names[4][96], arg[160], text[160] = "";
	size_t n = 0;
	const char *p = line + 4;

	ck_assert(roff_arg(&p, names[n++], sizeof(names[0])));
	while (roff_arg(&p, arg, sizeof(arg))) {
		if (strcmp(arg, ", ") == 0 && n < 4 && roff_arg(&p, names[n], sizeof(names[0]))) {
			n++;
			continue;
		}
		strncat(text, arg, sizeof(text) - strlen(text) - 1);
	}
	for (size_t i = 0; i < n; i++)
		add_doc(prefix, names[i], text);
}

static void load_docs(void)
{
	char *man = read_source_file("man/meshdns.conf.5");
	const char *prefix = NULL;
	bool tp = false;

	n_docs = 0;
	for (char *line = strtok(man, "\n"); line; line = strtok(NULL, "\n")) {
		if (strncmp(line, ".SH ", 4) == 0 || strncmp(line, ".SS ", 4) == 0)
			prefix = key_prefix(line + 4);
		else if (tp && prefix && strncmp(line, ".BR ", 4) == 0 && strstr(line, "\" ("))
			parse_tag(prefix, line);
		tp = strcmp(line, ".TP") == 0;
	}
	free(man);
	conf_text = read_source_file("etc/meshdns.conf");
}

static void free_docs(void)
{
	free(conf_text);
	conf_text = NULL;
}

static const struct doc_key *doc_of(const char *name)
{
	for (size_t i = 0; i < n_docs; i++) {
		if (strcmp(docs[i].name, name) == 0)
			return &docs[i];
	}
	return NULL;
}

/* ------------------------------------------------------------ the manual */

static void documented_cb(const struct config_key *k, void *arg)
{
	ck_assert_msg(doc_of(k->name), "%s is not a key of man/meshdns.conf.5", k->name);
}

START_TEST(test_rows_documented)
{
	ck_assert_uint_gt(n_docs, 50);
	config_schema_each(documented_cb, NULL);
}
END_TEST

START_TEST(test_docs_in_table)
{
	for (size_t i = 0; i < n_docs; i++)
		ck_assert_msg(config_key_find(docs[i].name),
			      "man/meshdns.conf.5 documents %s, which the schema lacks",
			      docs[i].name);
}
END_TEST

/* The word after "default " in the manual's tag, or "". */
static void doc_default(const char *text, char *out, size_t len)
{
	const char *d = strstr(text, "default ");
	size_t n = 0;

	out[0] = '\0';
	if (!d)
		return;
	for (d += 8; *d && *d != ')' && *d != ',' && *d != ' ' && n + 1 < len; d++)
		out[n++] = *d;
	out[n] = '\0';
}

static void range_cb(const struct config_key *k, void *arg)
{
	const struct doc_key *doc = doc_of(k->name);
	char want[64], got[32];
	const char *r;

	if (!doc)
		return;
	if (k->type == CONFIG_UINT) {
		snprintf(want, sizeof(want), "integer %u\\(en%u", k->min, k->max);
		r = strstr(doc->text, "integer ");
		ck_assert_msg(r && strncmp(r, want, strlen(want)) == 0 &&
			      !isdigit((unsigned char)r[strlen(want)]),
			      "%s: the manual says '%s', the schema '%s'", k->name, doc->text, want);
	}
	if (!(k->type == CONFIG_UINT || k->type == CONFIG_BOOL || k->type == CONFIG_ENUM) ||
	    (k->flags & (CONFIG_KEY_UNSET | CONFIG_KEY_REQUIRED)))
		return;
	doc_default(doc->text, got, sizeof(got));
	ck_assert_msg(strcmp(got, k->def_text) == 0, "%s: the manual's default is '%s', the schema's '%s'",
		      k->name, got, k->def_text);
}

START_TEST(test_docs_ranges)
{
	config_schema_each(range_cb, NULL);
}
END_TEST

/* ------------------------------------------------------------ etc/meshdns.conf */

/* "KEY": (perhaps commented out) */
static bool conf_has_key(const char *leaf)
{
	char quoted[96];
	size_t n;

	n = (size_t)snprintf(quoted, sizeof(quoted), "\"%s\"", leaf);
	for (const char *p = strstr(conf_text, quoted); p; p = strstr(p + 1, quoted)) {
		const char *q = p + n;
		while (*q == ' ')
			q++;
		if (*q == ':')
			return true;
	}
	return false;
}

static void conf_cb(const struct config_key *k, void *arg)
{
	ck_assert_msg(conf_has_key(config_key_leaf(k)),
		      "%s: etc/meshdns.conf has no \"%s\": key", k->name, config_key_leaf(k));
}

START_TEST(test_rows_in_example)
{
	config_schema_each(conf_cb, NULL);
}
END_TEST

/* ------------------------------------------------------------ the rows */

static void row_cb(const struct config_key *k, void *arg)
{
	bool nodef = k->flags & (CONFIG_KEY_UNSET | CONFIG_KEY_REQUIRED);

	ck_assert_msg(k->doc && *k->doc, "%s has no doc", k->name);
	ck_assert_ptr_eq(config_key_find(k->name), k);
	/* --config-keys prints "required" for a row without a default text */
	ck_assert_msg(!k->def_text == !!(k->flags & CONFIG_KEY_REQUIRED),
		      "%s: a default text exactly when not required", k->name);
	if (k->type == CONFIG_UINT && !nodef)
		ck_assert_msg(k->min <= k->def && k->def <= k->max,
			      "%s: default %u outside %u-%u", k->name, k->def, k->min, k->max);
	if (k->type == CONFIG_UINT)
		ck_assert_msg(k->size == 1 || k->size == 2 || k->size == 4, "%s", k->name);
	if (k->type == CONFIG_UINT && k->size < 4)
		ck_assert_msg(k->max < (1u << (8 * k->size)), "%s: max over its field", k->name);
	if (k->type == CONFIG_ENUM && !nodef) {
		bool found = false;
		for (const struct config_choice *ch = k->choices; ch->name; ch++)
			found |= ch->value == k->def && strcmp(ch->name, k->def_text) == 0;
		ck_assert_msg(found, "%s: default is not one of its choices", k->name);
	}
	if (k->type == CONFIG_STRING)
		ck_assert_msg(k->max || k->min <= 1, "%s: a minimum needs a maximum", k->name);
	if (k->type == CONFIG_LIST || k->type == CONFIG_CUSTOM)
		ck_assert_msg(k->parse, "%s needs a parse hook", k->name);
	if (k->type == CONFIG_OBJECT)
		ck_assert_ptr_nonnull(k->members);
	if (k->apply == CONFIG_RESTART && (k->type == CONFIG_LIST || k->type == CONFIG_CUSTOM))
		ck_assert_msg(k->equal, "%s: a restart-only key needs an equal hook", k->name);
	if (k->flags & (CONFIG_KEY_SEEN | CONFIG_KEY_CLI))
		ck_assert_msg(k->flag_at, "%s: SEEN and CLI need flag_at", k->name);
}

START_TEST(test_rows)
{
	config_schema_each(row_cb, NULL);
	ck_assert_str_eq(config_key_leaf(config_key_find("cache.max_entries")), "max_entries");
	ck_assert_str_eq(config_key_leaf(config_key_find("ttl")), "ttl");
	ck_assert_ptr_null(config_key_find("max_entries"));
}
END_TEST

static uint32_t value_at(const void *base, const struct config_key *k)
{
	const char *p = (const char *)base + k->offset;
	uint32_t v = 0;

	if (k->size == 1)
		v = *(const uint8_t *)p;
	else if (k->size == 2)
		v = *(const uint16_t *)p;
	else
		memcpy(&v, p, sizeof(v));
	return v;
}

/* Each UINT, BOOL and ENUM row with a default holds it; lists: their first element. */
static void check_defaults(const struct config_key *keys, const void *base)
{
	for (const struct config_key *k = keys; k->name; k++) {
		const char *at = (const char *)base + k->offset;
		if (k->type == CONFIG_OBJECT) {
			check_defaults(k->members, at);
		} else if (k->type == CONFIG_LIST && k->members) {
			ck_assert_msg(*(const size_t *)((const char *)base + k->count) > 0,
				      "%s: the test config has none", k->name);
			check_defaults(k->members, *(void *const *)at);
		} else if ((k->type == CONFIG_UINT || k->type == CONFIG_BOOL ||
			    k->type == CONFIG_ENUM) &&
			   !(k->flags & (CONFIG_KEY_UNSET | CONFIG_KEY_REQUIRED))) {
			ck_assert_msg(value_at(base, k) == k->def, "%s: config_parse gives %u, not %u",
				      k->name, value_at(base, k), k->def);
		}
	}
}

static struct config *parse_ok(const char *text)
{
	struct config_errors errs = { 0 };
	struct config *cfg = NULL;

	ck_assert_msg(config_parse("t.conf", text, strlen(text), &cfg, &errs) == 0,
		      "config_parse: %s", errs.text);
	free(errs.text);
	return cfg;
}

START_TEST(test_defaults)
{
	struct config *cfg = parse_ok(
		"{\"services\": [{\"name\": \"a\", \"ports\": [{\"port\": 80}],"
		" \"endpoints\": [{\"address\": \"10.0.0.1\"}], \"probe\": {\"type\": \"tcp\"}}]}");

	check_defaults(config_schema, cfg);
	ck_assert_str_eq(cfg->domain, config_key_find("domain")->def_str);
	ck_assert_str_eq(cfg->services[0].namespace,
			 config_key_find("services[].namespace")->def_str);
	config_delete(cfg);
}
END_TEST

/* ------------------------------------------------------------ reload */

START_TEST(test_restart_changes)
{
	struct config *old = parse_ok("{\"listen\": [\"127.0.0.1:5353\"], \"ttl\": 5}");
	struct config *new = parse_ok("{\"listen\": [\"127.0.0.1:5354\"], \"ttl\": 6,"
				      " \"tcp_max_connections\": 5, \"threads\": 2}");
	const struct config_listen *running = old->listen;
	char buf[128];

	ck_assert_uint_eq(config_restart_changes(old, old, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "");
	ck_assert_uint_eq(config_restart_changes(old, new, buf, sizeof(buf)), 3);
	ck_assert_str_eq(buf, "listen, ttl, threads");
	/* a cut buffer still counts them all */
	ck_assert_uint_eq(config_restart_changes(old, new, buf, 8), 3);
	ck_assert_str_eq(buf, "listen,");
	/* --threads given: its value stays, quietly */
	old->threads_cli = true;
	ck_assert_uint_eq(config_restart_changes(old, new, buf, sizeof(buf)), 2);
	config_keep_restart_values(new, old);
	ck_assert_ptr_eq(new->listen, running);
	ck_assert_str_eq(new->listen[0].text, "127.0.0.1:5353");
	ck_assert_uint_eq(new->ttl_s, 5);
	ck_assert_uint_eq(new->threads, 1);
	ck_assert(new->threads_cli);
	ck_assert_uint_eq(new->tcp_max_connections, 5);	/* a reload applies it */
	config_delete(old);
	config_delete(new);
}
END_TEST

Suite *config_schema_suite(void)
{
	Suite *s = suite_create("config_schema");
	TCase *tc = tcase_create("docs");
	TCase *rows = tcase_create("rows");

	tcase_add_unchecked_fixture(tc, load_docs, free_docs);
	tcase_add_test(tc, test_rows_documented);
	tcase_add_test(tc, test_docs_in_table);
	tcase_add_test(tc, test_docs_ranges);
	tcase_add_test(tc, test_rows_in_example);
	suite_add_tcase(s, tc);
	tcase_add_test(rows, test_rows);
	tcase_add_test(rows, test_defaults);
	tcase_add_test(rows, test_restart_changes);
	suite_add_tcase(s, rows);
	return s;
}
