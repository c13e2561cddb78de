/*
 * ovs-cats: from load and telemetry to the weights in use.
 *
 * Feeds the path selector (include/cats/selector.h) with what the agents
 * report (the metrics store) and what telemetry sources say about
 * long-haul paths, reweights, and writes the selector's weights into the
 * catalog's weights in use, which the flow model turns into select group
 * buckets.
 *
 * Which instances take part: a service whose instances no agent reports
 * on keeps its configured weights, as does a service with policy=static
 * (whose instances still leave selection when their agent says so or goes
 * silent).  Otherwise every instance of the service is a selector
 * instance (one with no agent counts as idle).
 *
 * A catalog without sites: one selector service per service (named after
 * it), each instance with one pair: its path (instance path=LINK, matched
 * to telemetry link ids) or local.  With sites: one selector service per
 * service and client site S ("SERVICE@S"), whose pairs are the instances
 * at S (local) and each instance I at another site R over each catalog
 * path joining S and R.  Their weights go to the catalog: a local pair's
 * as the instance's weight in use, a remote pair's as its pair weight.
 *
 * Catalog paths.  One selector path per catalog path (base RTT twice its
 * delay hint), fed one sample per telemetry report from the latest of each
 * of its link ids: counters summed over the links, gauges (queue, RTT,
 * current pause) at their worst; so a pause storm on either direction is
 * the path's.  A path whose telemetry, once seen, stops for the metrics
 * store's lease (its gateway gone) is fed its last sample again, paused
 * since then: a storm, which ends as storms do (clean samples for the
 * restore time).  A path in a storm leaves selection (the selector) and
 * gets a carrier (cats_path_set_carrier()): the healthy path of lowest
 * cost joining the same two sites (the current carrier while it stays
 * healthy); when it is clean again its carrier is reset and its moved
 * connections come back.  A storm's start or end is acted on in the
 * steer_run() that follows the report, without the reweight's rate limit,
 * so that the model and the switches get it in the same main-loop
 * iteration, as one bundle per switch.  Path state survives rebuilds.
 *
 * The selector's structure is rebuilt when the catalog's membership
 * (instances, policies, paths) or the set of registrations changes; its
 * damping starts over then.
 *
 * Main thread only.
 */

#ifndef CATS_STEER_H
#define CATS_STEER_H 1

#include "cats/metrics.h"

struct cats_catalog;
struct cats_instance;
struct cats_report_telemetry;
struct cats_site;
struct ds;

void steer_init(void);
/* The selector's conn_wait_factor (cats/selector.h), for the selectors
 * built from now on. */
void steer_set_conn_wait_factor(double);

/* How the weights of an instance reached over several pairs are spread
 * over them (the instance's share is the selector's in every case):
 *
 *   JOINT: as the selector puts them, by each pair's cost (default).
 *   ECMP: split equally over the instance's paths, whatever the
 *     telemetry says (a compute-aware balancer that ignores the network).
 *   NEAREST: the instances at the client's site get all of it unless
 *     each of them is at capacity (in-flight, as last reported, at least
 *     its capacity) or out of selection; then the other sites' over
 *     their lowest-delay path (the selector's shares, or the configured
 *     weights where it gave the side in use none).
 *   LOWEST_DELAY: all of it on the path of lowest declared delay_ms
 *     (then lowest id), never moved by telemetry.
 *
 * A stormed or dead path's connections are carried by another path with
 * every policy.  With a policy other than JOINT, steer_pick() declines
 * (the group decides, by these weights). */
enum steer_path_policy {
    STEER_PATH_JOINT,
    STEER_PATH_ECMP,
    STEER_PATH_NEAREST,
    STEER_PATH_LOWEST_DELAY,
};
const char *steer_path_policy_name(enum steer_path_policy);
bool steer_path_policy_from_string(const char *, enum steer_path_policy *);
/* Applies from the next reweight. */
void steer_set_path_policy(enum steer_path_policy);
enum steer_path_policy steer_get_path_policy(void);
void steer_destroy(void);

/* A report from 'minst' was applied at 'now'. */
void steer_instance_report(const struct cats_metrics_instance *minst,
                           long long int now);

/* A telemetry report was accepted at 'now'. */
void steer_telemetry(const struct cats_report_telemetry *,
                     long long int now);

/* Rebuilds if needed, updates selectability, reweights what is due and
 * sets the catalog's weights in use. */
void steer_run(struct cats_catalog *, const struct cats_metrics_store *,
               long long int now);
long long int steer_next_wake(void);

/* New connections counted by the switches (the pipeline's per-instance
 * counters, polled every stats interval): the selector separates the
 * load it sends from the rest with them.  The controller calls
 * steer_counts() after each completed poll with a function that returns
 * the cumulative count of new connections to an instance, summed over
 * the switches of site 'clients_at' (all of them if NULL), or false if
 * none counted it. */
typedef bool steer_count_fn(const struct cats_instance *,
                            const struct cats_site *clients_at,
                            uint64_t *count);
void steer_counts(steer_count_fn *, long long int now);

/* Per-connection decisions (decide=connection).  steer_pick() picks the
 * pair for a new connection of the service with catalog id 'service_id'
 * from a client at 'site' (NULL: no sites) and counts it as placed:
 * '*path_id' is the catalog path of the pair, left alone for a local
 * one.  False if the service has no selector (no agent reports) or
 * nothing is eligible: the group decides.  steer_ended() counts a
 * connection of that service to 'ip':'port' as ended, in the view of the
 * site whose switch saw the end (for an instance's reset at its own site,
 * not the client's: the estimate is corrected by the next report);
 * nothing if the service or the instance is not (or no longer) there. */
bool steer_pick(uint32_t service_id, const struct cats_site *site,
                long long int now, ovs_be32 *ip, uint16_t *port,
                uint32_t *path_id);
void steer_ended(uint32_t service_id, const struct cats_site *site,
                 ovs_be32 ip, uint16_t port, long long int now);

void steer_register_commands(void);

#endif /* steer.h */
