/*
 * The smallest useful init for boot-time measurements: say that userspace
 * was reached (the end of the boot), then reset the machine so QEMU, run
 * with -no-reboot and the kernel with reboot=t, exits at once.
 */
#include <stdio.h>
#include <unistd.h>
#include <sys/reboot.h>

int main(void)
{
	printf("boottrace-init: reached userspace\n");
	fflush(stdout);
	reboot(RB_AUTOBOOT);
	return 1;
}
