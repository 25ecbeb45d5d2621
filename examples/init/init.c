/*
 * The smallest useful init for boot-time measurements: add a BOOT_TRACE
 * userspace mark "init" (when the kernel has the patch; with
 * boottrace.end=init it ends the boot there), say that userspace was
 * reached, then reset the machine so QEMU, run with -no-reboot and the
 * kernel with reboot=t, exits at once. With "exit" as its first argument
 * (rdinit=/init -- exit... or init=) it exits instead, which panics the
 * kernel: a boot that never reaches a working init. With "debugfs" it
 * prints /sys/kernel/debug/boot_trace after the line "boottrace-init:
 * debugfs", as a machine without a captured console would read it.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/reboot.h>

int main(int argc, char **argv)
{
	int fd;

	mount("proc", "/proc", "proc", 0, NULL);
	fd = open("/proc/boot_trace_mark", O_WRONLY);
	if (fd >= 0) {
		write(fd, "init", 4);
		close(fd);
	}
	printf("boottrace-init: reached userspace\n");
	fflush(stdout);
	if (argc > 1 && strcmp(argv[1], "exit") == 0)
		return 0;
	if (argc > 1 && strcmp(argv[1], "debugfs") == 0) {
		char buf[4096];
		ssize_t n;

		mount("sysfs", "/sys", "sysfs", 0, NULL);
		mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
		printf("boottrace-init: debugfs\n");
		fflush(stdout);
		fd = open("/sys/kernel/debug/boot_trace", O_RDONLY);
		while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0)
			write(1, buf, n);
	}
	reboot(RB_AUTOBOOT);
	return 1;
}
