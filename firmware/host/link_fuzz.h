/* The authenticated link fuzzed through the real firmware application (rr_app_tick, in-memory HAL). */
#ifndef LINK_FUZZ_H
#define LINK_FUZZ_H

/* Delivers `frames` frames (one per tick, kinds drawn from seed) and prints one JSON line of counts:
 * legitimate commands must be applied; forged, wrong-key, modified (CRC fixed), replayed and 1-/2-bit
 * flipped frames must not be. Returns 0 if all held, 1 otherwise. */
int link_fuzz(unsigned long frames, unsigned long seed);

#endif /* LINK_FUZZ_H */
