/* SPDX-License-Identifier: MIT */
/* A library with libxenforeignmemory's nine names and nothing behind them,
 * linked with a deliberately wrong version script: what
 * check_dropin_abi.sh must refuse (tests/xen/CMakeLists.txt). Never
 * installed, never loaded. */
int xenforeignmemory_open(void);
int xenforeignmemory_close(void);
int xenforeignmemory_map(void);
int xenforeignmemory_unmap(void);
int xenforeignmemory_restrict(void);
int xenforeignmemory_map2(void);
int xenforeignmemory_map_resource(void);
int xenforeignmemory_unmap_resource(void);
int xenforeignmemory_resource_size(void);
int xenforeignmemory_open(void) { return 0; }
int xenforeignmemory_close(void) { return 0; }
int xenforeignmemory_map(void) { return 0; }
int xenforeignmemory_unmap(void) { return 0; }
int xenforeignmemory_restrict(void) { return 0; }
int xenforeignmemory_map2(void) { return 0; }
int xenforeignmemory_map_resource(void) { return 0; }
int xenforeignmemory_unmap_resource(void) { return 0; }
int xenforeignmemory_resource_size(void) { return 0; }
