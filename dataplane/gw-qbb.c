/*
 * cats-gw: IEEE 802.1Qbb priority-based flow control (PFC) frames.
 * See gw-qbb.h for the layout.
 */

#include "gw-qbb.h"

#include <errno.h>
#include <string.h>

/* Offsets of the fields in a frame. */
#define OFS_DST 0
#define OFS_SRC 6
#define OFS_ETHERTYPE 12
#define OFS_OPCODE 14
#define OFS_VECTOR 16
#define OFS_TIME 18
#define OFS_PAD (OFS_TIME + 2 * GW_QBB_N_PRIORITIES)

const uint8_t gw_qbb_dst[6] = { 0x01, 0x80, 0xc2, 0x00, 0x00, 0x01 };

static inline uint16_t
get_be16(const uint8_t *p)
{
    return (p[0] << 8) | p[1];
}

static inline void
put_be16(uint8_t *p, uint16_t x)
{
    p[0] = x >> 8;
    p[1] = x;
}

/* The group bit is the least significant bit of the first octet. */
static inline bool
is_group_address(const uint8_t *mac)
{
    return mac[0] & 1;
}

int
gw_qbb_build(const struct gw_qbb_frame *f, void *buf_, size_t size)
{
    uint8_t *buf = buf_;

    if (size < GW_QBB_FRAME_LEN) {
        return ENOSPC;
    }
    if (!f->enable || is_group_address(f->src)) {
        return EINVAL;
    }

    memset(buf, 0, GW_QBB_FRAME_LEN);
    memcpy(buf + OFS_DST, gw_qbb_dst, sizeof gw_qbb_dst);
    memcpy(buf + OFS_SRC, f->src, sizeof f->src);
    put_be16(buf + OFS_ETHERTYPE, GW_QBB_ETHERTYPE);
    put_be16(buf + OFS_OPCODE, GW_QBB_OPCODE);
    put_be16(buf + OFS_VECTOR, f->enable);
    for (int i = 0; i < GW_QBB_N_PRIORITIES; i++) {
        if (f->enable & (1u << i)) {
            put_be16(buf + OFS_TIME + 2 * i, f->quanta[i]);
        }
    }
    return 0;
}

enum gw_qbb_error
gw_qbb_parse(const void *data, size_t len, struct gw_qbb_frame *f)
{
    const uint8_t *p = data;
    uint16_t opcode, vector;
    struct gw_qbb_frame out;

    if (len < GW_QBB_FRAME_LEN) {
        return GW_QBB_ERR_SHORT;
    }
    if (len > GW_QBB_FRAME_LEN_FCS) {
        return GW_QBB_ERR_LONG;
    }
    if (memcmp(p + OFS_DST, gw_qbb_dst, sizeof gw_qbb_dst)) {
        return GW_QBB_ERR_DST;
    }
    if (is_group_address(p + OFS_SRC)) {
        return GW_QBB_ERR_SRC;
    }
    if (get_be16(p + OFS_ETHERTYPE) != GW_QBB_ETHERTYPE) {
        return GW_QBB_ERR_ETHERTYPE;
    }
    opcode = get_be16(p + OFS_OPCODE);
    if (opcode == GW_QBB_OPCODE_PAUSE) {
        return GW_QBB_ERR_GLOBAL_PAUSE;
    }
    if (opcode != GW_QBB_OPCODE) {
        return GW_QBB_ERR_OPCODE;
    }
    vector = get_be16(p + OFS_VECTOR);
    if (vector >> 8) {
        return GW_QBB_ERR_VECTOR_RESERVED;
    }
    if (!vector) {
        return GW_QBB_ERR_VECTOR_EMPTY;
    }

    memset(&out, 0, sizeof out);
    memcpy(out.src, p + OFS_SRC, sizeof out.src);
    out.enable = vector;
    for (int i = 0; i < GW_QBB_N_PRIORITIES; i++) {
        uint16_t t = get_be16(p + OFS_TIME + 2 * i);

        if (!(vector & (1u << i)) && t) {
            return GW_QBB_ERR_TIME_DISABLED;
        }
        out.quanta[i] = t;
    }
    for (size_t i = OFS_PAD; i < GW_QBB_FRAME_LEN; i++) {
        if (p[i]) {
            return GW_QBB_ERR_PAD;
        }
    }

    *f = out;
    return GW_QBB_OK;
}

static const struct {
    const char *name;
    const char *text;
} errors[GW_QBB_N_ERRORS] = {
    [GW_QBB_OK] = { "ok", "valid PFC frame" },
    [GW_QBB_ERR_SHORT] = { "short", "frame is shorter than 60 bytes" },
    [GW_QBB_ERR_LONG] = {
        "long", "frame is longer than 64 bytes (a MAC control frame is "
        "exactly the minimum frame size)" },
    [GW_QBB_ERR_DST] = {
        "dst", "destination is not 01:80:c2:00:00:01" },
    [GW_QBB_ERR_SRC] = { "src", "source is a group address" },
    [GW_QBB_ERR_ETHERTYPE] = {
        "ethertype", "ethertype is not 0x8808 (MAC control)" },
    [GW_QBB_ERR_GLOBAL_PAUSE] = {
        "global_pause", "opcode 0x0001 is 802.3x PAUSE, not PFC" },
    [GW_QBB_ERR_OPCODE] = { "opcode", "opcode is not 0x0101 (PFC)" },
    [GW_QBB_ERR_VECTOR_RESERVED] = {
        "vector_reserved", "reserved octet of the class-enable vector is "
        "not zero" },
    [GW_QBB_ERR_VECTOR_EMPTY] = {
        "vector_empty", "class-enable vector enables no priority" },
    [GW_QBB_ERR_TIME_DISABLED] = {
        "time_disabled", "pause time is set for a priority that the "
        "class-enable vector does not enable" },
    [GW_QBB_ERR_PAD] = { "pad", "reserved padding is not zero" },
};

const char *
gw_qbb_error_name(enum gw_qbb_error error)
{
    return (unsigned) error < GW_QBB_N_ERRORS ? errors[error].name
                                                : "unknown";
}

const char *
gw_qbb_strerror(enum gw_qbb_error error)
{
    return (unsigned) error < GW_QBB_N_ERRORS ? errors[error].text
                                                : "unknown PFC frame error";
}
