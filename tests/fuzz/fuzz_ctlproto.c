/* libFuzzer target for the control protocol's request parser: any bytes a hostile
 * client may send as one line. Either a valid request with its schema row comes back or
 * an error reply that is itself a well-formed version-1 reply; never both, never none. */
#include <stdint.h>
#include <stdlib.h>

#include "ctlproto/ctlproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct ctlproto_cmd *cmd = NULL;
    json_t *error = NULL;
    json_t *req = ctlproto_parse_request((const char *)data, size, &cmd, &error);
    if ((req == NULL) == (error == NULL))
        abort();
    if (req && !cmd)
        abort();
    if (error) {
        char why[256];
        if (ctlproto_check_reply("status", error, why, sizeof why) != 0)
            abort();
    }
    json_decref(req);
    json_decref(error);
    return 0;
}
