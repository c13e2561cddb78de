/*
 * cats-gw: IEEE 802.1Qbb priority-based flow control (PFC) frames.
 *
 * Building the frames that cats-gw sends and parsing, strictly, the ones it
 * receives.  Pure byte handling: no DPDK, no clock, no global state, so the
 * same code runs per packet in the gateway, in the unit tests and in the
 * fuzz target.
 *
 * Layout of a PFC frame as it sits in a receive buffer (the NIC has checked
 * and usually stripped the 4-byte FCS; offsets in bytes):
 *
 *      0  destination     01:80:c2:00:00:01 (MAC control, never forwarded)
 *      6  source          the sending port's individual (unicast) address
 *     12  ethertype       0x8808 (MAC control)
 *     14  opcode          0x0101 (PFC; 0x0001 is 802.3x global PAUSE)
 *     16  class-enable    reserved octet (zero), then e[7..0]: bit n says
 *                         that time[n] is valid
 *     18  time[0..7]      8 x 16 bits, big endian, in pause quanta (one
 *                         quantum is 512 bit times at the port speed);
 *                         0 means "resume now" (XON)
 *     34  reserved        26 zero bytes of padding
 *     60  (FCS)           4 bytes: 64 bytes is the minimum frame size
 *
 * Received frames are hostile input.  gw_qbb_parse() checks every field,
 * in the order above, and reports the first one that is wrong; the
 * reserved octet, the padding and the time of a priority that the vector
 * does not enable, which 802.1Qbb says a receiver ignores, are required to
 * be zero here: a gateway that faces another site acts only on frames that
 * a conforming peer could have sent, and counts the others.
 */

#ifndef GW_QBB_H
#define GW_QBB_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Number of 802.1p priorities that a PFC frame can pause. */
#define GW_QBB_N_PRIORITIES 8

/* Frame length without FCS (what gw_qbb_build() writes) and with it. */
#define GW_QBB_FRAME_LEN 60
#define GW_QBB_FRAME_LEN_FCS 64

#define GW_QBB_ETHERTYPE 0x8808     /* MAC control. */
#define GW_QBB_OPCODE 0x0101        /* Priority-based flow control. */
#define GW_QBB_OPCODE_PAUSE 0x0001  /* 802.3x PAUSE (all priorities). */

/* Bit times per pause quantum. */
#define GW_QBB_QUANTUM_BITS 512

/* 01:80:c2:00:00:01, the destination of every MAC control frame. */
extern const uint8_t gw_qbb_dst[6];

/* A PFC frame's meaning. */
struct gw_qbb_frame {
    uint8_t src[6];             /* Sender's individual MAC address. */
    uint8_t enable;             /* Bit n: 'quanta[n]' is valid. */
    uint16_t quanta[GW_QBB_N_PRIORITIES];   /* Host order; 0 means XON.
                                             * Zero where 'enable' has no
                                             * bit. */
};

/* Why gw_qbb_parse() rejected a frame: the first wrong field, in frame
 * order.  GW_QBB_OK is 0, so the value tests as an error like an errno. */
enum gw_qbb_error {
    GW_QBB_OK = 0,
    GW_QBB_ERR_SHORT,           /* Fewer than GW_QBB_FRAME_LEN bytes. */
    GW_QBB_ERR_LONG,            /* More than GW_QBB_FRAME_LEN_FCS bytes. */
    GW_QBB_ERR_DST,             /* Destination is not 'gw_qbb_dst'. */
    GW_QBB_ERR_SRC,             /* Source is a group (multicast) address. */
    GW_QBB_ERR_ETHERTYPE,       /* Not 0x8808 (a VLAN tag shows here). */
    GW_QBB_ERR_GLOBAL_PAUSE,    /* Opcode 0x0001: 802.3x PAUSE. */
    GW_QBB_ERR_OPCODE,          /* Any other opcode than 0x0101. */
    GW_QBB_ERR_VECTOR_RESERVED, /* Class-enable vector's high octet. */
    GW_QBB_ERR_VECTOR_EMPTY,    /* Class-enable vector enables nothing. */
    GW_QBB_ERR_TIME_DISABLED,   /* time[n] != 0 but e[n] == 0. */
    GW_QBB_ERR_PAD,             /* Reserved padding is not zero. */
    GW_QBB_N_ERRORS
};

/* Writes the GW_QBB_FRAME_LEN bytes (no FCS: the NIC appends it) of 'f' to
 * 'buf', which has room for 'size' bytes.  Times of priorities that
 * 'f->enable' leaves out are written as zero.  Returns 0 on success,
 * ENOSPC if 'size' is too small, EINVAL if 'f' enables no priority or has
 * a group source address (a frame that gw_qbb_parse() would reject). */
int gw_qbb_build(const struct gw_qbb_frame *f, void *buf, size_t size);

/* Parses the 'len' bytes at 'data', a received MAC control frame with or
 * without its FCS (which is not checked: the NIC did).  On success returns
 * GW_QBB_OK and fills '*f'; otherwise returns the reason and leaves '*f'
 * untouched. */
enum gw_qbb_error gw_qbb_parse(const void *data, size_t len,
                               struct gw_qbb_frame *f);

/* A short stable name of 'error' for counters ("short", "dst", ...), and a
 * sentence that says what was wrong.  Both return a string constant, also
 * for out-of-range values. */
const char *gw_qbb_error_name(enum gw_qbb_error error);
const char *gw_qbb_strerror(enum gw_qbb_error error);

/* Whether the 'len' bytes at 'data' are a MAC control frame (ethertype
 * 0x8808 right after the addresses), which a gateway consumes instead of
 * forwarding.  Cheap enough for every received packet. */
static inline bool
gw_qbb_is_mac_control(const void *data, size_t len)
{
    const uint8_t *p = data;

    return len >= 14 && p[12] == (GW_QBB_ETHERTYPE >> 8)
           && p[13] == (GW_QBB_ETHERTYPE & 0xff);
}

#ifdef __cplusplus
}
#endif

#endif /* gw-qbb.h */
