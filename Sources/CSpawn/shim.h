// Two file actions of posix_spawn that the C library declares only under _GNU_SOURCE, bound to
// its symbols: closing every descriptor from a number up, and changing the child's directory.
#include <spawn.h>

extern int dnsstore_spawn_add_closefrom(posix_spawn_file_actions_t *actions, int from)
    __asm__("posix_spawn_file_actions_addclosefrom_np");
extern int dnsstore_spawn_add_chdir(posix_spawn_file_actions_t *actions, const char *path)
    __asm__("posix_spawn_file_actions_addchdir_np");
