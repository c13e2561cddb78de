/*
 * ovs-cats: the path selector (CATS C-PS).
 *
 * Chooses, for each service, how new connections are spread over its
 * (instance, path) pairs: one relative weight per pair, which the
 * controller turns into the buckets of the service's select group and the
 * simulator (cats-sim) applies per new connection.  Connections already
 * established never move (conntrack keeps them), so only the spread of new
 * ones is decided here.  A controller that sees each new connection (a
 * packet-in) can also ask for the best pair for that one connection
 * ("Per-connection decisions" below); the weights are computed all the
 * same, as the switch's fallback.
 *
 * Pure: no I/O, no clock, no global state.  Every function that depends
 * on time takes 'now' (or a sample's time) in milliseconds on one
 * monotonic clock.  Not thread-safe: one owner (the main loop, or the
 * simulator).  The same code runs in the daemon, in the unit tests and in
 * cats-sim.
 *
 * The cost of a pair (policy MIN_LATENCY, the default)
 * ----------------------------------------------------
 *
 * The cost of sending a new connection of service S to instance I over
 * path P is an estimate of its completion time, in milliseconds:
 *
 *     cost(I, P) = net(P) + inst(I)
 *
 * Instance term.  With C the capacity (requests served at once; 0 counts
 * as 1), R the requests in flight, Q the queue depth, T the service time
 * and L the observed latency (arrival to response, mean over the report
 * window):
 *
 *     load  = (R + Q) / C
 *     wait  = T * load
 *     model = wait + T
 *     inst  = (1 - b) * model + b * L       (b: latency_weight; L absent:
 *                                            inst = model)
 *
 * The wait is the work ahead of the new request spread over C servers.
 * It counts a partly busy instance too (an M/M/c queue would say zero
 * below C): reports are stale, and an instance at R = C - 1 when it
 * reported is likely full by the time the weights apply; a smooth cost
 * also gives stale reports no cliff to herd over.  Requests in flight and
 * latency are the first-class signals (Prequal, NSDI'24: they predict the
 * next request's wait better than CPU utilization, which enters only
 * through the metrics store's health and leases): R and Q give the wait,
 * L gives T.
 *
 * Service time.  T is the reported service time if the caller has one
 * (cats.v1 carries none); otherwise it is learned from the latency, since
 * a request's latency is its service time plus its wait in the queue:
 *
 *     sample = L / (1 + Q / C),  T <- T + g * (sample - T),
 *     g = 1 - exp(-dt / 5 s), dt the time since the previous report,
 *
 * starting from T = 'default_service_ms' with g = 0.5 for the first
 * report (a mean over a young window can be far off: one fast-looking
 * report must not make an instance look four times faster), except that
 * a sample below T is ignored while Q / C > 0.5.  The exception matters:
 * latencies lag a growing queue (the requests that complete now entered
 * a shorter one), so under overload the samples fall and the instance
 * would look ever faster, attract more, and run away (cats-sim showed
 * exactly that).  b defaults to 0: the measured latency lags by a report
 * window and its smoothing, and a cost that follows it herds (cats-sim,
 * 500 ms reports: p99 +5% at b = 0.1, +29% at b = 0.5); it is kept as a
 * knob for services whose latency is fresher than their queue.
 *
 * Network term.  With D the path's delay, a the ECN alpha, f the PFC pause
 * fraction and d the drop fraction (all below):
 *
 *     D       = base_rtt + queue_bytes * 8 / speed     (no RTT measured)
 *             = max(rtt, base_rtt + queue_bytes * 8 / speed)  (measured)
 *               + paused_for                           (both)
 *     stretch = 1 / ((1 - f) * (1 - a / 2))
 *     net     = D * stretch + d * drop_penalty_ms
 *
 * A connection spends at least a round trip on the path, and every round
 * trip is stretched: a priority paused a fraction f of the time sends only
 * 1 - f of it, and DCQCN senders cut their rate by a/2 for each alpha
 * update (Zhu et al., SIGCOMM'15).  f is capped at 0.99.  A packet sent
 * now on a priority that has been paused for 'paused_for' (the gauge
 * below) waits until the pause ends, and the time a pause has lasted is
 * the best guess of what is left of it: so the path's cost rises at the
 * first sample of a long pause, before the watchdog decides it is a
 * storm.  A loss costs a retransmission timeout: the default 2000 ms per
 * unit of drop fraction charges a 1% loss 20 ms (ten packets per
 * connection, each with a 1% chance of a 200 ms RTO).  A local instance
 * (path CATS_SEL_LOCAL) has no network term.  The measured RTT already
 * includes the queue it crossed, hence max() rather than a sum.
 *
 * Path telemetry (cumulative counters, gauges, a counters epoch: message
 * LinkTelemetry of proto/cats.proto) is turned into fractions per sample:
 *
 *     F = delta(ecn_marked) / delta(tx_packets)           (0 if none sent)
 *     f = delta(rx_pause_us) / delta(time), the highest over the counted
 *         priorities ('pfc_priorities'), at most 1
 *     d = delta(drops) / (delta(tx_packets) + delta(drops))
 *
 * each smoothed DCQCN-style, alpha <- (1 - g) * alpha + g * F, with g =
 * 'ecn_g' for a sample 'ecn_period_ms' after the previous one, and g =
 * 1 - (1 - ecn_g)^(dt / ecn_period_ms) for any other gap dt (the same
 * memory in time whatever rate the telemetry source reports at).  A path
 * we stopped sending on marks nothing (F = 0) and so is tried again after
 * a while: with no evidence, a path recovers.  A counter that goes down,
 * or a new epoch, starts the counters over: that sample gives no deltas
 * (the EWMAs keep their values) and is counted in 'n_resets'.
 *
 * Pause storms (SONiC's PFC watchdog)
 * -----------------------------------
 *
 *                paused_for >= watchdog_ms, or the source's storm
 *                flag, in a sample
 *       +------+ ------------------------------------> +-------+
 *       |  OK  |                                       | STORM |
 *       +------+ <------------------------------------ +-------+
 *                clean in every sample for restore_ms
 *
 * 'paused_for' is the gauge of how long a counted priority has been
 * paused without a break (the highest over them).  The storm flag is the
 * source's own watchdog (cats-gw's, which may be shorter than ours and
 * already drops the class), on any counted priority.  In STORM, a sample
 * is clean if that gauge is 0, no counted priority has the flag, and no
 * pause time accrued since the previous sample; the restore time runs
 * from the first clean sample and starts over with any pause.  A path in STORM leaves selection at once (its
 * pairs get weight 0 without damping) and comes back, damped, once
 * restored.  Only samples move this machine: a path whose telemetry stops
 * keeps its state.
 *
 * From costs to weights: the proportional model
 * ---------------------------------------------
 *
 * This is how MIN_LATENCY turns costs into targets until new connections
 * are counted (the rate model below replaces it from then on), and how
 * LEAST_LOADED always does.  A pair is eligible if its instance is
 * selectable (health and lease, as the metrics store says) and its path is
 * not in a storm.  With 'best' the lowest cost of an eligible pair and k =
 * 'sharpness':
 *
 *     score(I, P)  = (best / cost(I, P))^k
 *     target(I, P) = rate(I) * hot(I) * max_P' score(I, P')
 *                    * score(I, P) / sum_P' score(I, P')
 *
 * normalized to sum to 1 over the service.  rate(I) = C / T is what the
 * instance can complete per unit of time: equally good instances get new
 * connections in proportion to what they can serve, which keeps them
 * equally loaded (an equal split overloads the small ones), and a pair
 * gets less as its cost grows past the best one's: with k = 1, an
 * instance whose cost is twice the best gets half of its capacity share.
 * An instance's share is that of its best path, divided among its paths
 * by score.  k above 1 reacts harder to load, and with reports 500 ms old
 * it oscillated in cats-sim (p99 x11 at k = 2 with the default damping:
 * damping adds lag, and is no cure for too much gain).
 *
 * Cut-off, with hysteresis: a pair whose cost exceeds cut_ratio * ref
 * gets target 0; it comes back only once its cost is below readmit_ratio
 * * ref (readmit_ratio < cut_ratio), so that a pair near the threshold
 * does not flap in and out.  'ref' is the 'cut_quantile' quantile of the
 * eligible pairs' costs (the best one's with 2 to 10 pairs, at the
 * default 0.1), not the best: one instance reporting an absurdly low
 * cost (a young estimate, a broken agent) must not cut every other one
 * and draw all new connections to itself.
 *
 * Hot and cold (Prequal): an instance is hot when its load is at least
 * the 'hot_quantile' quantile of the service's loads and at least
 * 'hot_min_load'; a hot instance's target is multiplied by 'hot_factor',
 * unless every eligible instance is hot.  Load already raises the cost;
 * this cuts further the few instances that are the worst of the pool
 * right now, where the next requests would queue the longest.
 *
 * LEAST_LOADED uses cost = 1 + load and rate(I) = C, ignoring service
 * times, latency and the network (storms still exclude a path).  STATIC
 * uses the configured static weights, split evenly over an instance's
 * eligible paths, with the same exclusions and no damping.
 *
 * From rates to weights: the rate model
 * -------------------------------------
 *
 * A weight applies to every new connection until the next reweight, and a
 * report is tens of service times old when it is used: the queue it showed
 * has been replaced many times over.  What carries over is the balance of
 * rates, how much each instance can serve and how much of that others
 * use.  So once the controller counts the new connections that the
 * dataplane sends each instance (cats_sel_instance_sent()), MIN_LATENCY
 * plans rates instead of scoring queues:
 *
 *   Arrivals.  lambda, the service's new connections per unit of time, is
 *   the sum of the instances' counted rates (count over the time between
 *   two count samples, EWMA with a 1 s time constant) over the instances
 *   counted in the last 10 s.  Between counts, ours(I) = lambda * f(I), f(I)
 *   the share of new connections that the published weights give I.
 *
 *   Queue model.  An instance with C slots and service time T at
 *   utilization rho holds rho * C requests in service and Lq(rho) =
 *   rho^k / (1 - rho) in its queue, k = sqrt(2 (C + 1)) (Sakasegawa's
 *   approximation of M/M/C: exact for C = 1, within 0.1 request of Erlang
 *   C for C = 2 to 8); a request waits Lq / (rho C / T) on average.
 *
 *   Other load.  The occupancy n = R + Q of each report and ours(I) when
 *   it reported are smoothed alike (EWMA, 'occupancy_tau_ms'); rho_obs
 *   solves rho C + Lq(rho) = n (at most 0.95, the knee), and
 *
 *       b = rho_obs - ours * T / C
 *
 *   is the utilization that is not ours: other tenants, background work,
 *   and whatever error there is in T.  Taking our own part out is what
 *   keeps the plan from herding: moving our connections moves ours, not b.
 *
 *   Backlog.  What a report shows beyond the stationary occupancy, x = n -
 *   (rho_obs C + Lq(rho_obs)), drains after the report at the (1 -
 *   rho_obs) C / T the instance has to spare (a fluid estimate of R now =
 *   R reported + sent since - completed since); what is left of it now is
 *   load to be rid of within 'drain_ms', added to b as left / (drain_ms C /
 *   T).  A queue longer than the knee's is not a stationary one, which is
 *   why rho_obs stops there: an instance that we overload is drained by
 *   this term, and comes back as it drains.  An instance with b at or
 *   above 0.995 gets nothing.
 *
 *   Plan.  The rates x(I) of new connections that minimize the mean
 *   completion time over the service, ours and the others' alike:
 *
 *       minimize    sum_I x(I) (net(I) + T(I)) + Lq(rho(I))
 *       subject to  rho(I) = b(I) + x(I) T(I) / C(I) < 0.995,
 *                   sum_I x(I) = lambda,  x(I) >= 0
 *
 *   (by Little's law Lq is the rate at which waiting accrues), net(I) the
 *   network term of I's best eligible path.  Every instance used has the
 *   same marginal cost net + T + (T / C) Lq'(rho) = L, and one whose
 *   marginal cost at x = 0 is above L gets nothing (reason CUT).  L is
 *   found by Newton's method, kept in a bracket, from the previous
 *   reweight's L, and each instance's rho for a given L by Newton's method
 *   from its previous one: a few O(n) passes.  Unlike a split by C / T,
 *   this loads a big instance harder than a small one (at the same
 *   utilization its queue is shorter), a slow one less, and one that is
 *   worse than the others at any load not at all.  In cats-sim, this plan
 *   computed from perfect, instant knowledge is the best weighted split
 *   found: p99 75 ms at 0.8 load, where equal expected completion times
 *   give 92 ms, a plan for the p99 itself no better than 74, and the
 *   oracle, which picks per connection, 51 ms; fed what the controller
 *   knows, 87 ms (the proportional model: 112).  lambda is taken
 *   to be at least 'min_plan_load' of the free capacity, sum C (1 - b) /
 *   T: a plan for almost no load would put everything on the best
 *   instance, and the next burst with it.  If lambda is more than the pool
 *   has room for, every instance is filled to 0.995.
 *
 *   Targets.  target(I) = x(I) / lambda, split over I's paths by score =
 *   (cost of I's best pair / cost)^path_sharpness, with cost = net + T +
 *   the queue model's wait at the planned rho.  Paths get a sharper split
 *   (default k = 8) than instances had: our connections do not load a
 *   path the way they load an instance, so the better path should take
 *   nearly all, and a path whose delay jumps (a pause in progress) is left
 *   before the watchdog declares its storm.
 *
 *   Service time.  Learned from latency as above, except that the wait
 *   taken out of the latency is the queue model's at rho_obs (what the
 *   latency's window saw on average) rather than Q / C of the moment, and
 *   that no sample is taken at the knee (the queue is not stationary
 *   there, and latencies lag it), which replaces the rule on Q / C > 0.5.
 *
 *   Damping.  Instance shares follow their targets with an EWMA of
 *   'plan_tau_ms' (100 ms) instead of tau_ms and stale_factor: the plan
 *   rests on smoothed rates already, and a share that follows it late
 *   keeps overloading an instance whose other tenants came back.  A pair's
 *   fraction of its instance falls at once, and rises damped.  The step
 *   limit, the deadband, halfway publication and the safety rules are
 *   those below.
 *
 * Without counts (a controller that does not call
 * cats_sel_instance_sent(), or stopped 10 s ago), MIN_LATENCY uses the
 * proportional model; LEAST_LOADED and STATIC ignore counts.
 *
 * Damping (CATS R9: stale metrics must not cause herding or oscillation)
 * --------------------------------------------------------------------
 *
 * Reports are up to a report interval old when used, so a selector that
 * moved all new connections to the best pair would overload it before the
 * next report said so, then move them all away: herding (Mitzenmacher,
 * "How useful is old information?").  The brakes:
 *
 *   1. spread, not argmin: the targets above;
 *   2. two levels: each instance's share of the service (the sum of its
 *      pairs' targets), and each pair's fraction of its instance's share.
 *      Moving load between instances is what herds, so instance shares
 *      are damped hard; moving an instance's connections between its
 *      paths does not load the instance, so fractions are damped lightly
 *      and a congested path is left quickly;
 *   3. an EWMA over time: share += a * (target - share), with a = 1 -
 *      exp(-dt / tau) and dt the time since the previous reweight, tau =
 *      max(tau_ms, stale_factor * the mean time between two reports of an
 *      instance) for instance shares (older information, slower moves)
 *      and path_tau_ms for fractions (an instance or pair entering
 *      selection starts at a * target);
 *   4. at most a factor 1 + max_step up or down per reweight, for
 *      instance shares;
 *   5. a deadband: a pair's published share (and weight) changes only
 *      when its damped share has moved more than 'deadband' (relative)
 *      from it, or to or from 0; and then it moves halfway to the damped
 *      share (all the way to or from 0).  Halfway because, while the
 *      deadband holds the published split still, the damped share
 *      converges to the target that this split produces: publishing all
 *      of it would make each publication an undamped step of the loop,
 *      and a stale loop whose target overshoots settles into a cycle
 *      between two published values (the closed-loop step response in
 *      tests/unit/test-selector.c did exactly that).
 *
 * Instance shares are renormalized to sum to 1 after 3 and 4, and one
 * damped down below 1% of the mean share is set to 0.  Safety overrides
 * damping: a pair whose instance is not selectable or whose path is in a
 * storm goes to 0 at once (its instance's other paths take its fraction
 * at once).
 *
 * Weights are the published shares scaled to uint16_t (0 to 65535,
 * relative), every published nonzero share getting at least 1.  The scale
 * puts the largest weight at half of 65535 and is chosen again only when
 * the largest would leave [65535 / 8, 65535], so that a reweight changes
 * only the weights of the pairs that moved.  Every change of a published
 * share is counted in 'n_changes', and a change in the direction opposite
 * to that pair's previous change in 'n_flips' (an oscillation measure).
 *
 * Per-connection decisions ("decide=connection")
 * ----------------------------------------------
 *
 * Instead of weights that the switch applies to every new connection, the
 * controller may decide each one: the switch sends the first packet of a
 * new connection to the controller (a packet-in with a continuation), the
 * controller asks cats_sel_pick_connection() for a pair, tells
 * cats_sel_connection_placed() it sent the connection there, and resumes
 * the packet; when the connection ends (the instance's FIN, copied to the
 * controller) it tells cats_sel_connection_ended().  Between two reports
 * of an instance the controller then knows exactly what it added to the
 * instance and what left it, which a weight, fixed for a reweight
 * interval, cannot use.  The weights are still computed by reweights, as
 * before: they are what the switch's select group does when the
 * controller is away.
 *
 * Occupancy.  The live estimate of the requests at instance I:
 *
 *     n(I) = (R + Q of I's last report)
 *            + connections placed on I since that report
 *            - connections ended on I since that report,
 *
 * floored at 0 and at most CATS_SEL_MAX_COUNT; before I's first report,
 * R + Q counts as 0 and "since" is since I was added.  Each report resets
 * the two counts, so a lost FIN (or a connection that never reached the
 * instance) misleads the estimate for at most one report interval.  A
 * connection placed before the report and ending after it was in R (or
 * on its way, which R missed but the estimate did not: the placement
 * raised it by one, the end takes it back), so subtracting every end
 * since the report is right.  What it cannot see is the instance's other
 * load moving since the report (other tenants, other controllers): that
 * is the error left, and the next report corrects it.
 *
 * Cost (policy MIN_LATENCY).  With C the capacity (0 counts as 1) and T
 * the service time the cost model uses (reported, else learned from the
 * latency, else 'default_service_ms': "Service time" above), the
 * expected completion time of one more connection over pair (I, P):
 *
 *     cost(I, P) = net(P) + T + a * max(0, n(I) + 1 - C) * T / C
 *
 * the network term of the path as its latest telemetry gives it (not the
 * reweight's snapshot: a decision is made now), the service, and the wait
 * for a slot when the new request finds all C busy: each request ahead of
 * it beyond the free slots takes T / C of the instance's time.  a =
 * 'conn_wait_factor' (default 2) charges the wait again for what the
 * request does to those that come after it: a request that joins a queue
 * delays every later one behind it, a request sent to an idle slower
 * instance delays nobody.  With a = 1 (each connection's own expected
 * completion, selfish) the fastest instances run nearly full before a
 * slower one gets anything, and the median suffers: in cats-sim (80%
 * load, default workload) a = 1, 1.5, 2, 3 gave mean 16.7, 15.4, 14.8,
 * 14.1 ms, p50 14.1, 12.7, 12.1, 11.3 ms and p99 54.4, 52.9, 52.2,
 * 52.1 ms; at 90% load the p99.9 grows again at a = 3 (94.0 against 91.8
 * ms at a = 2).  Eligible
 * pairs are those of the weights (instance selectable, path not in a
 * storm); the cheapest wins, ties going to the lower (n + 1) / C, then to
 * the lower pair index (deterministic: a replay decides the same).  With
 * a = 1 this is the simulator's oracle (shortest expected delay) with the
 * occupancy and T estimated rather than known.  Unlike a weight, an argmin herds
 * no more than the estimate is wrong: each placement raises n at once,
 * so successive picks spread over equally good instances.
 *
 * LEAST_LOADED picks the lowest (n + 1) / C (then the lowest net(P), then
 * the lower pair index), ignoring service times and the network except to
 * choose among an instance's paths.  STATIC picks the lowest (n + 1) / w,
 * w the instance's static weight (weighted least connections: the open
 * connections, rather than the new ones, in proportion to the weights;
 * an instance of weight 0 gets none), with the same ties.  No policy
 * looks at the cut-off, hot instances or damping: they exist because a
 * weight is applied blindly for a whole interval.
 *
 * A pick does not count the connection as placed (the caller may fail to
 * resume it); cats_sel_connection_placed() does.  Picks, picks that found
 * no eligible pair, placements and ends are counted in cats_sel_stats and
 * shown by cats_sel_explain_format(), with each instance's n(I).
 *
 * Scale
 * -----
 *
 * A reweight is O(n) in the number of pairs (one pass per step, and an
 * expected O(n) selection for the hot quantile; in the rate model a few
 * passes of Newton's method over a packed array of the instances, each a
 * few pow() calls).  A report is O(1), and so is a count.
 * cats_sel_pick() maps a
 * 32-bit connection hash to a pair in O(log n) over the published
 * weights, as a dp_hash select group would.  cats_sel_pick_connection()
 * is one pass over the pairs, O(n), with no allocation: fine for a
 * service of tens to thousands of instances (microseconds), but at
 * 100,000 instances it costs about a reweight's pass per new connection
 * (cats-sim --scale measures it); placements and ends are O(1).
 */

#ifndef CATS_SELECTOR_H
#define CATS_SELECTOR_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cats/report.h"
#include "openvswitch/compiler.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ds;

enum cats_sel_policy {
    CATS_SEL_MIN_LATENCY,       /* The cost model above (default). */
    CATS_SEL_LEAST_LOADED,      /* cost = 1 + load. */
    CATS_SEL_STATIC,            /* Configured weights. */
};

const char *cats_sel_policy_name(enum cats_sel_policy);

/* Parses "min-latency", "least-loaded" or "static".  Returns false if
 * 'name' is none of them. */
bool cats_sel_policy_from_string(const char *name, enum cats_sel_policy *);

/* Defaults. */
#define CATS_SEL_SHARPNESS 1.0
#define CATS_SEL_CUT_RATIO 4.0
#define CATS_SEL_READMIT_RATIO 3.0
#define CATS_SEL_CUT_QUANTILE 0.1
#define CATS_SEL_TAU_MS 1000
#define CATS_SEL_PATH_TAU_MS 300
#define CATS_SEL_STALE_FACTOR 2.0
#define CATS_SEL_MAX_STEP 1.0
#define CATS_SEL_DEADBAND 0.05
#define CATS_SEL_HOT_QUANTILE 0.95
#define CATS_SEL_HOT_MIN_LOAD 2.0
#define CATS_SEL_HOT_FACTOR 0.5
#define CATS_SEL_DEFAULT_SERVICE_MS 10.0
#define CATS_SEL_LATENCY_WEIGHT 0.0
#define CATS_SEL_ECN_PERIOD_MS 100
#define CATS_SEL_ECN_G 0.25
#define CATS_SEL_DROP_PENALTY_MS 2000.0
#define CATS_SEL_WATCHDOG_MS 200
#define CATS_SEL_RESTORE_MS 1000
#define CATS_SEL_OCCUPANCY_TAU_MS 2000
#define CATS_SEL_MIN_PLAN_LOAD 0.5
#define CATS_SEL_DRAIN_MS 500
#define CATS_SEL_PLAN_TAU_MS 100
#define CATS_SEL_PATH_SHARPNESS 8.0
#define CATS_SEL_CONN_WAIT_FACTOR 2.0

/* Inputs larger than these are clamped to them. */
#define CATS_SEL_MAX_COUNT 1e7          /* In flight, queue. */
#define CATS_SEL_MAX_MS 3.6e6           /* Latency, service time, RTT. */
#define CATS_SEL_MIN_SERVICE_MS 1e-3    /* Service time (no divide by 0). */

struct cats_sel_config {
    double sharpness;           /* k, > 0. */
    double cut_ratio;           /* > 1. */
    double readmit_ratio;       /* > 1, at most cut_ratio. */
    double cut_quantile;        /* 0 to 1; 0: relative to the best. */
    unsigned int tau_ms;        /* Instance share EWMA; 0: none. */
    unsigned int path_tau_ms;   /* Path fraction EWMA; 0: none. */
    double stale_factor;        /* Instance EWMA at least this many mean
                                 * report intervals; 0: off. */
    double max_step;            /* > 0; a huge value: no limit. */
    double deadband;            /* 0 to 1; 0: none. */
    double hot_quantile;        /* 0 to 1. */
    double hot_min_load;        /* >= 0. */
    double hot_factor;          /* 0 to 1; 1: hot/cold off. */
    double default_service_ms;
    double latency_weight;      /* b, 0 to 1. */
    unsigned int ecn_period_ms; /* >= 1. */
    double ecn_g;               /* 0 to 1. */
    double drop_penalty_ms;     /* >= 0. */
    unsigned int watchdog_ms;   /* >= 1. */
    unsigned int restore_ms;
    uint8_t pfc_priorities;     /* Bit n: priority n counts (default all). */
    unsigned int occupancy_tau_ms;  /* Rate model: EWMA of the reported
                                     * occupancy; 0: none. */
    double min_plan_load;       /* Rate model: plan for at least this
                                 * load, 0 to 0.95. */
    unsigned int drain_ms;      /* Rate model: a backlog is load to be rid
                                 * of in this long; 0: ignored. */
    unsigned int plan_tau_ms;   /* Rate model: instance share EWMA (in
                                 * place of tau_ms and stale_factor); 0:
                                 * none. */
    double conn_wait_factor;    /* Per-connection: a, the weight of the
                                 * wait, >= 1 (1: selfish). */
    double path_sharpness;      /* Rate model: k of the split over an
                                 * instance's paths, > 0. */
};

/* Fills 'cfg' with the defaults above. */
void cats_sel_config_init(struct cats_sel_config *cfg);

/* The selector: paths (shared by every service) and services. */
struct cats_selector;
struct cats_sel_service;

/* Creates a selector.  'cfg' may be NULL for the defaults; out-of-range
 * values (NaN included) are replaced by the defaults, and readmit_ratio is
 * capped at cut_ratio. */
struct cats_selector *cats_sel_create(const struct cats_sel_config *cfg);
void cats_sel_destroy(struct cats_selector *);
const struct cats_sel_config *cats_sel_get_config(
    const struct cats_selector *);

/* Paths
 * -----
 *
 * A path is a long-haul link or an end-to-end path between sites, with a
 * configured base RTT (its delay when idle).  Paths are numbered from 0 in
 * the order they are added. */

/* The "path" of an instance reached without a long-haul path: no network
 * term, never in a storm. */
#define CATS_SEL_LOCAL SIZE_MAX

/* Adds a path named 'name' (copied, truncated to CATS_ID_MAX) with
 * 'base_rtt_ms' (NaN or negative counts as 0, larger than CATS_SEL_MAX_MS
 * as that).  Returns its number. */
size_t cats_sel_path_add(struct cats_selector *, const char *name,
                         double base_rtt_ms);
size_t cats_sel_n_paths(const struct cats_selector *);

/* Applies telemetry sample 'link' of path 'path', taken at 'now' with
 * counters of epoch 'epoch' (TelemetryReport.counters_epoch).  'link->id'
 * and 'link->kind' are not looked at.  Returns 0, or without changing
 * anything but 'n_rejected': EINVAL for an RTT that is NaN, infinite or
 * negative, or a PFC priority above 7 or given twice; ESTALE for a sample
 * older than the previous one.  An RTT above CATS_SEL_MAX_MS is clamped.
 * 'path' must exist. */
int cats_sel_path_report(struct cats_selector *, size_t path,
                         const struct cats_report_link *link, uint64_t epoch,
                         long long now) OVS_WARN_UNUSED_RESULT;

struct cats_sel_path_info {
    const char *name;
    double base_rtt_ms;
    double ecn_alpha;           /* EWMA of the marking fraction. */
    double pause_frac;          /* EWMA of the pause fraction. */
    double drop_frac;           /* EWMA of the drop fraction. */
    double delay_ms;            /* D. */
    double stretch;
    double loss_ms;             /* d * drop_penalty_ms. */
    double net_ms;              /* net(P). */
    bool storm;
    long long paused_for_ms;    /* In the last sample. */
    long long storm_since;      /* When the storm was detected. */
    long long clean_since;      /* In STORM: first clean sample of the
                                 * restore time; LLONG_MIN: none yet. */
    long long last_sample;      /* LLONG_MIN: none yet. */
    uint64_t n_samples, n_rejected, n_resets, n_storms;
};

void cats_sel_path_get(const struct cats_selector *, size_t path,
                       struct cats_sel_path_info *);
bool cats_sel_path_is_storm(const struct cats_selector *, size_t path);

/* Appends one line per path (state, smoothed fractions, cost terms). */
void cats_sel_paths_format(const struct cats_selector *, struct ds *);

/* Services, instances, pairs
 * -------------------------- */

/* Adds a service named 'name' (copied, truncated to CATS_NAME_MAX) with
 * 'policy'.  The selector owns it. */
struct cats_sel_service *cats_sel_service_add(struct cats_selector *,
                                              const char *name,
                                              enum cats_sel_policy policy);
struct cats_sel_service *cats_sel_service_find(const struct cats_selector *,
                                               const char *name);
const char *cats_sel_service_name(const struct cats_sel_service *);
void cats_sel_service_set_policy(struct cats_sel_service *,
                                 enum cats_sel_policy);
enum cats_sel_policy cats_sel_service_policy(const struct cats_sel_service *);

/* Adds an instance named 'name' (copied, truncated to 47 characters) with
 * 'capacity' (0 counts as 1; clamped to CATS_CAPACITY_MAX) and the weight
 * the STATIC policy gives it.  It is selectable, with no report yet (load
 * 0, default service time) until told otherwise.  Returns its number
 * (from 0, in order). */
size_t cats_sel_instance_add(struct cats_sel_service *, const char *name,
                             uint32_t capacity, uint16_t static_weight);
size_t cats_sel_n_instances(const struct cats_sel_service *);

/* Adds the pair (instance, path): new connections to 'instance' may go
 * over 'path' (CATS_SEL_LOCAL: no long-haul path).  Both must exist.
 * Returns its number (from 0, in order).  A new pair has weight 0 until
 * the next reweight. */
size_t cats_sel_pair_add(struct cats_sel_service *, size_t instance,
                         size_t path);
size_t cats_sel_n_pairs(const struct cats_sel_service *);
size_t cats_sel_pair_instance(const struct cats_sel_service *, size_t pair);
size_t cats_sel_pair_path(const struct cats_sel_service *, size_t pair);

/* What an instance reports (through the metrics store, smoothed or not:
 * the caller chooses).  Absent values are 'has_*' false. */
struct cats_sel_instance_report {
    long long time;             /* When measured, ms (for ages). */
    bool selectable;            /* Health and lease allow new
                                 * connections. */
    bool has_in_flight;
    double in_flight;           /* R, count. */
    bool has_queue;
    double queue;               /* Q, count. */
    bool has_latency;
    double latency_ms;          /* L. */
    bool has_service;
    double service_ms;          /* T. */
};

/* Applies 'r' to 'instance'.  Returns 0, or EINVAL (changing nothing) if
 * a present value is NaN, infinite or negative.  Values above
 * CATS_SEL_MAX_COUNT or CATS_SEL_MAX_MS are clamped to them; a service
 * time below CATS_SEL_MIN_SERVICE_MS is raised to it. */
int cats_sel_instance_report(struct cats_sel_service *, size_t instance,
                             const struct cats_sel_instance_report *r)
    OVS_WARN_UNUSED_RESULT;

/* Takes 'instance' in or out of selection without a report (a lease that
 * ran out, an operator's drain).  Out of selection takes effect at the
 * next reweight, without damping. */
void cats_sel_instance_set_selectable(struct cats_sel_service *,
                                      size_t instance, bool selectable);

/* Adds 'n' new connections that the dataplane sent to 'instance' (over
 * any of its pairs) since the previous call for it, as counted at 'now'
 * (the time of the counter sample, on the clock of the reports).  The
 * controller calls it at each poll of OVS's per-instance new-connection
 * counters (every stats interval, 1 s by default), for every instance of
 * the service, 0 included (no connections is a rate too), with the
 * difference from the previous poll; after a counter reset (a flow
 * re-added), with the new counter's value or 0.  The first call for an
 * instance sets its baseline: its 'n' covers an unknown time and gives no
 * rate.  A sample no later than the previous one is added to the next.
 *
 * These counts give the service's arrival rate, and with the published
 * weights the part of each instance's load that is ours: they turn on
 * the rate model of MIN_LATENCY (top of this file) at the next reweight.
 * A controller that never calls this, or stopped 10 s ago, gets the
 * proportional model.  The rate model wants the reports as they came (the
 * metrics store's 'last' values, as controller/steer.c feeds them): it
 * smooths them itself, with what it sent at each one. */
void cats_sel_instance_sent(struct cats_sel_service *, size_t instance,
                            uint64_t n, long long now);

/* Computes new weights at 'now' from the latest reports and telemetry.
 * Returns true if any published weight changed (the caller then updates
 * the dataplane). */
bool cats_sel_reweight(struct cats_sel_service *, long long now);

/* The published weight of 'pair', 0 to 65535, relative to the others. */
uint16_t cats_sel_weight(const struct cats_sel_service *, size_t pair);

/* The pair that a new connection with 32-bit hash 'hash' gets under the
 * published weights: pair p takes the hash values in proportion to its
 * weight, in pair order.  SIZE_MAX if every weight is 0. */
size_t cats_sel_pick(const struct cats_sel_service *, uint32_t hash);

/* Per-connection decisions (top of this file).
 * ------------------------------------------- */

/* The best pair for a new connection at 'now' under the service's policy,
 * from the live occupancy estimates and the latest path telemetry, or
 * SIZE_MAX if no pair is eligible (no selectable instance, or every path
 * of every selectable one in a storm; under STATIC, also every such
 * instance of static weight 0).  Does not count the connection as placed:
 * call cats_sel_connection_placed() once it is sent.  O(pairs). */
size_t cats_sel_pick_connection(struct cats_sel_service *, long long now);

/* Counts a new connection sent to 'pair' (its instance's occupancy
 * estimate rises by 1 until its next report). */
void cats_sel_connection_placed(struct cats_sel_service *, size_t pair,
                                long long now);

/* Counts a connection of 'instance' that ended (its estimate falls by 1,
 * never below 0, until its next report). */
void cats_sel_connection_ended(struct cats_sel_service *, size_t instance,
                               long long now);

/* The occupancy estimate n(I) of 'instance' now. */
double cats_sel_connection_estimate(const struct cats_sel_service *,
                                    size_t instance);

struct cats_sel_stats {
    uint64_t n_reweights;
    uint64_t n_changes;         /* Published share changes, all pairs. */
    uint64_t n_flips;           /* Changes against the pair's previous. */
    uint64_t n_rescales;        /* Scale changes (every weight moved). */
    size_t n_eligible;          /* As of the last reweight. */
    size_t n_cut;
    size_t n_hot;
    double best_cost;           /* 0 with no eligible pair. */
    double tau_ms;              /* Instance damping in use (tau above). */
    double arrivals_per_s;      /* Counted, smoothed; 0: not known. */
    double planned_per_s;       /* What the rate model planned for; 0: it
                                 * was not used. */

    /* Per-connection decisions, since the service was added. */
    uint64_t n_conn_picks;      /* Picks that found a pair. */
    uint64_t n_conn_none;       /* Picks that found none (SIZE_MAX). */
    uint64_t n_conn_placed;
    uint64_t n_conn_ended;
};

void cats_sel_get_stats(const struct cats_sel_service *,
                        struct cats_sel_stats *);

/* Explanations
 * ------------ */

/* Why a pair has the weight it has, as of the last reweight. */
enum cats_sel_reason {
    CATS_SEL_OK,                /* In selection by its cost. */
    CATS_SEL_UNHEALTHY,         /* Instance not selectable: 0 at once. */
    CATS_SEL_STORM,             /* Path in a pause storm: 0 at once. */
    CATS_SEL_CUT,               /* Cost past the cut-off: damped to 0. */
};

const char *cats_sel_reason_name(enum cats_sel_reason);

struct cats_sel_explain {
    size_t pair, instance, path;    /* 'path' may be CATS_SEL_LOCAL. */
    const char *instance_name;      /* Owned by the selector. */
    const char *path_name;          /* "local" for CATS_SEL_LOCAL. */
    enum cats_sel_reason reason;
    bool hot;                       /* Target cut by hot_factor. */
    bool no_report;                 /* Instance never reported. */

    /* Instance terms. */
    double load;                    /* (R + Q) / C. */
    double wait_ms;
    double service_ms;              /* T as used. */
    double latency_ms;              /* L; NaN if not reported. */
    double instance_ms;             /* inst(I). */
    long long report_age_ms;        /* At the reweight; -1: no report. */
    double other_load;              /* Rate model: utilization not ours
                                     * (b), backlog to drain included;
                                     * NaN: not used. */
    double utilization;             /* Rate model: planned (rho). */
    double connections;             /* Per-connection decisions: n(I)
                                     * now (not as of the reweight). */

    /* Network terms (0 for a local pair). */
    double delay_ms;
    double stretch;
    double loss_ms;
    double net_ms;

    double cost;                    /* As the policy defines it. */
    double target;                  /* Share before damping, 0 to 1. */
    double share;                   /* Damped. */
    double published;               /* Published share. */
    uint16_t weight;
};

/* Stores in '*entriesp' a malloc'd array with one entry per pair, in pair
 * order, and returns its length (the caller frees the array; its strings
 * belong to the selector and live as long as it). */
size_t cats_sel_explain(const struct cats_sel_service *,
                        struct cats_sel_explain **entriesp);

/* Appends the explanation of 'svc' to 'out': a summary line, then one line
 * per pair, highest weight first, at most 'max_pairs' of them (0: all),
 * then a count of the pairs left out by reason.  Once per-connection
 * decisions were counted, a line of their counts follows the summary and
 * each pair's line shows its instance's n(I) ("conns="). */
void cats_sel_explain_format(const struct cats_sel_service *svc,
                             size_t max_pairs, struct ds *out);

#ifdef __cplusplus
}
#endif

#endif /* cats/selector.h */
