/*
 * ovs-cats: the catalog configuration language.
 *
 * One statement per line; '#' starts a comment; blank lines are ignored.
 *
 *     site NAME dpid=HEX
 *     path NAME SITE1:PORT SITE2:PORT link=ID[,ID...] [delay_ms=N]
 *     service NAME vip=IPV4 port=PORT [proto=tcp|udp]
 *             [policy=min-latency|least-loaded|static]
 *             [decide=weights|connection]
 *     instance SERVICE IPV4:PORT [weight=0..65535] [mac=XX:XX:XX:XX:XX:XX]
 *              [path=LINK] [site=SITE]
 *
 * A service must be declared before its instances.  'weight' defaults to
 * 100; 0 drains the instance (no new connections).  'mac' pins the
 * instance's Ethernet address; without it the controller learns it from
 * ARP.  The same statements, without the leading keyword, are the
 * arguments of the cats/service-add and cats/instance-add commands.
 *
 * Sites and paths (include/cats/catalog.h): a site is served by the bridge
 * with datapath id HEX (1 to 16 hex digits); a path joins two declared
 * sites, PORT being the OpenFlow port (1 to 65279) of each site's bridge
 * toward it, described by 1 to 4 telemetry link ids, with a one-way delay
 * hint (default 0).  Sites come before the paths and instances that name
 * them.  An instance runs at 'site' (default: the first declared site); one
 * at another site needs 'mac' (no ARP crosses a path).  'path' (one
 * telemetry link, single pair) and 'site' do not go together in a catalog
 * with paths.  A catalog without sites is a single site, as before.
 *
 * Every error names the line and the field.  Parsing a file is all or
 * nothing: on any error the caller's catalog is left untouched.
 */

#ifndef CATS_CONFIG_H
#define CATS_CONFIG_H 1

#include <stdint.h>

#include "openvswitch/compiler.h"
#include "openvswitch/types.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cats_catalog;

#define CATS_DEFAULT_WEIGHT 100
#define CATS_CONFIG_LINE_MAX 4096

/* Applies one statement to 'cat'.  Returns NULL on success, otherwise a
 * malloc'd error message, in which case 'cat' is unchanged. */
char *cats_config_parse_line(struct cats_catalog *cat, const char *line)
    OVS_WARN_UNUSED_RESULT;

/* Parses all of 'text' (named 'origin' in messages) as a whole catalog and
 * makes 'cat' equal to it, keeping the ids of the services that 'cat'
 * already had under the same name and VIP, and of its sites and paths
 * under the same names (see cats_catalog_sync()).
 * Returns NULL, or a malloc'd "ORIGIN:LINE: ..." error, in which case 'cat'
 * is unchanged. */
char *cats_config_parse_string(struct cats_catalog *cat, const char *text,
                               const char *origin) OVS_WARN_UNUSED_RESULT;

/* Reads 'file_name' and parses it as above. */
char *cats_config_parse_file(struct cats_catalog *cat, const char *file_name)
    OVS_WARN_UNUSED_RESULT;

/* Parses "A.B.C.D:PORT" with PORT in 1...65535.  Returns NULL or a malloc'd
 * error message. */
char *cats_parse_ip_port(const char *s, ovs_be32 *ip, uint16_t *port)
    OVS_WARN_UNUSED_RESULT;

#ifdef __cplusplus
}
#endif

#endif /* cats/config.h */
