/* signal_plugin.so: a plugin that sets SIGBUS back to SIG_DFL through its
 * own C library, as a plugin loaded with RTLD_DEEPBIND (or into a new
 * namespace with dlmopen) does: such a call never reaches librmap (see
 * fault_safe's cases on plugins and docs/fault-handling.md). */
#include <signal.h>

void plugin_set_sigbus_default(void) { signal(SIGBUS, SIG_DFL); }
