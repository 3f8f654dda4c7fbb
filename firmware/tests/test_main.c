/* rr_firmware_tests: unit tests of the pure core, the frame code and the application tick.
 * Exit status 0 only if every check passed. */
#include "check.h"

int check_failures = 0;
int check_count = 0;

int main(void) {
    test_control();
    test_frame();
    test_app();
    test_auth();
    printf("rr_firmware_tests: %d checks, %d failed\n", check_count, check_failures);
    return check_failures == 0 ? 0 : 1;
}
