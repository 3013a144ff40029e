/* This server as a witness (GET /v1/peer/probe; see witness.c). */
#ifndef SLSERVE_WITNESS_H
#define SLSERVE_WITNESS_H

struct req;

void api_peer_probe(struct req *r, const char *arg);
/* At stop, before the HTTP daemon stops: wait for the probes under way
 * (each at most 1.5 s) and start no more. */
void witness_stop(void);

#endif
