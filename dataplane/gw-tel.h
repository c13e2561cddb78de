/*
 * cats-gw: counters through DPDK's telemetry library (/cats_gw/...), read
 * with dpdk-telemetry.py.  See gw-tel.c for the commands.
 */

#ifndef GW_TEL_H
#define GW_TEL_H 1

/* Registers the commands.  Call once, after gw_state_init().  Returns 0
 * or a positive errno value. */
int gw_tel_register(void);

#endif /* gw-tel.h */
