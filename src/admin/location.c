/*
 * admin/location: `bastion location list | add NAME ... | del NAME`
 * (docs/emergency.md). The network locations of emergency calls are the
 * [location NAME] sections of bastion.conf, like peers: add and del rewrite
 * the file only when the result loads with the server's own loader, so a
 * field over its limit, a control character or an overlapping prefix is
 * refused with the reason and the file stays as it was.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../conf/conf.h"
#include "../emerg/emerg.h"
#include "internal.h"

static bool name_ok(const char *n)
{
	size_t len = strlen(n);

	if (len == 0 || len >= TRUNK_NAME_MAX)
		return false;
	for (const char *p = n; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
			return false;
	return true;
}

static int location_list(const char *state)
{
	char path[4200], err[700], text[EMERG_LOC_TEXT_MAX];
	struct conf *c = malloc(sizeof(*c));
	int rc = 1;

	if (!c)
		return 1;
	snprintf(path, sizeof(path), "%s/%s", state, CONF_FILE_NAME);
	if (conf_load(c, path, err, sizeof(err)) != 0) {
		fprintf(stderr, "bastion: %s\n", err);
		goto out;
	}
	if (c->emerg.nlocs == 0)
		printf("no locations: calls are located by their users' own locations only\n");
	for (size_t i = 0; i < c->emerg.nlocs; i++) {
		const struct emerg_location *l = &c->emerg.loc[i];
		struct emerg_civic civ = l->civic;
		civ.elin[0] = '\0';
		if (emerg_civic_format(text, sizeof(text), &civ) != 0)
			text[0] = '\0';
		printf("%s  prefixes %zu  elin %s  %s\n", l->name, l->nprefixes,
		       l->civic.elin[0] ? l->civic.elin : "-", text[0] ? text : "(no address)");
	}
	rc = 0;
out:
	free(c);
	return rc;
}

static int location_add(const char *state, int argc, char **argv)
{
	const char *name, *prefix = NULL, *civic = NULL, *elin = NULL;
	struct emerg_civic civ;
	char section[2048], err[256];
	size_t used, len = 0;
	char *old, *text;
	int rc;

	if (argc < 3)
		return admin_usage_error("location", "location add: expected NAME and --prefix", NULL);
	name = argv[2];
	if (!name_ok(name))
		return admin_usage_error("location", "location add: a name is letters, digits, - _ .",
					 name);
	for (int i = 3; i < argc; i++) {
		const char *v;
		if ((v = admin_opt_value(argc, argv, &i, "--prefix")))
			prefix = v;
		else if ((v = admin_opt_value(argc, argv, &i, "--civic")))
			civic = v;
		else if ((v = admin_opt_value(argc, argv, &i, "--elin")))
			elin = v;
		else
			return admin_usage_error("location", "location add: unknown argument", argv[i]);
	}
	if (!prefix)
		return admin_usage_error("location", "location add: expected --prefix", NULL);
	memset(&civ, 0, sizeof(civ));
	if ((civic && emerg_civic_parse(&civ, civic, err, sizeof(err)) != 0) ||
	    (elin && emerg_civic_set(&civ, "ELIN", elin, err, sizeof(err)) != 0)) {
		fprintf(stderr, "bastion: location add: %s\n", err);
		return 2;
	}
	for (const char *p = prefix; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == ';' || *p == '#') {
			fprintf(stderr, "bastion: location add: --prefix has a character that is not "
					"an address\n");
			return 2;
		}
	}
	used = (size_t)snprintf(section, sizeof(section), "\n[location %s]\nprefix = %s\n", name,
				prefix);
	for (int f = 0; f <= EMERG_FIELD_COUNT && used < sizeof(section); f++) {
		const char *v = f < EMERG_FIELD_COUNT ? civ.f[f] : civ.elin;
		if (!v[0])
			continue;
		/* the file's syntax: ';' and '#' start a comment there */
		if (strpbrk(v, ";#")) {
			fprintf(stderr, "bastion: location add: field %s: ';' and '#' cannot be "
					"written to bastion.conf\n",
				f < EMERG_FIELD_COUNT ? emerg_field_name((enum emerg_field)f) : "ELIN");
			return 2;
		}
		used += (size_t)snprintf(section + used, sizeof(section) - used, "%s = %s\n",
					 f < EMERG_FIELD_COUNT ? emerg_field_name((enum emerg_field)f)
							       : "elin",
					 v);
	}
	if (used >= sizeof(section))
		return admin_usage_error("location", "location add: arguments too long", NULL);
	if (!(old = admin_conf_read(state, &len))) {
		fprintf(stderr, "bastion: %s/%s: cannot read\n", state, CONF_FILE_NAME);
		return 1;
	}
	{
		char header[64];
		snprintf(header, sizeof(header), "[location %s]", name);
		if (strstr(old, header)) {
			fprintf(stderr, "bastion: location %s exists (location del %s first)\n", name,
				name);
			free(old);
			return 1;
		}
	}
	if (!(text = malloc(len + used + 1))) {
		free(old);
		return 1;
	}
	memcpy(text, old, len);
	memcpy(text + len, section, used + 1);
	rc = admin_conf_replace(state, text, len + used, "location add");
	if (rc == 0)
		printf("location %s added to bastion.conf; a running server takes it on SIGHUP\n",
		       name);
	free(old);
	free(text);
	return rc;
}

static int location_del(const char *state, const char *name)
{
	char header[64];
	char *old, *text;
	size_t len = 0, out_len = 0;
	bool found;
	int rc;

	if (!name_ok(name))
		return admin_usage_error("location", "location del: bad name", name);
	snprintf(header, sizeof(header), "[location %s]", name);
	if (!(old = admin_conf_read(state, &len))) {
		fprintf(stderr, "bastion: %s/%s: cannot read\n", state, CONF_FILE_NAME);
		return 1;
	}
	if (!(text = admin_conf_drop_section(old, header, &out_len, &found))) {
		free(old);
		return 1;
	}
	if (!found) {
		fprintf(stderr, "bastion: location %s: no such location\n", name);
		rc = 1;
	} else if ((rc = admin_conf_replace(state, text, out_len, "location del")) == 0) {
		printf("location %s removed from bastion.conf; a running server takes it on SIGHUP\n",
		       name);
	}
	free(old);
	free(text);
	return rc;
}

int admin_cmd_location(const char *state, int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "list") == 0)
		return location_list(state);
	if (argc >= 2 && strcmp(argv[1], "add") == 0)
		return location_add(state, argc, argv);
	if (argc == 3 && strcmp(argv[1], "del") == 0)
		return location_del(state, argv[2]);
	return admin_usage_error("location", "location: expected list, add NAME ... or del NAME",
				 NULL);
}
