/*
 * The smallest useful init for boot-time measurements: add a BOOT_TRACE
 * userspace mark "init" (when the kernel has the patch; with
 * boottrace.end=init it ends the boot there), say that userspace was
 * reached, then reset the machine so QEMU, run with -no-reboot and the
 * kernel with reboot=t, exits at once. With "exit" as its first argument
 * (rdinit=/init -- exit... or init=) it exits instead, which panics the
 * kernel: a boot that never reaches a working init. With "savetrace" it
 * copies /sys/kernel/debug/boot_trace to the first virtio disk (/dev/vda),
 * as a machine without a captured console would read it: on a channel of
 * its own, which no printk from another CPU or a workqueue can cut into.
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
	/* Not "debugfs": the kernel takes that word as its own parameter. */
	if (argc > 1 && strcmp(argv[1], "savetrace") == 0) {
		char buf[4096];
		ssize_t n;

		long total = 0;
		int out;

		mount("sysfs", "/sys", "sysfs", 0, NULL);
		mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
		mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
		fd = open("/sys/kernel/debug/boot_trace", O_RDONLY);
		out = open("/dev/vda", O_WRONLY);
		while (fd >= 0 && out >= 0 && (n = read(fd, buf, sizeof(buf))) > 0)
			total += write(out, buf, n);
		if (out >= 0)
			fsync(out);
		printf("boottrace-init: saved %ld bytes of debugfs to /dev/vda%s\n", total,
		       fd < 0 ? " (no /sys/kernel/debug/boot_trace)" : out < 0 ? " (no /dev/vda)" : "");
		fflush(stdout);
	}
	reboot(RB_AUTOBOOT);
	return 1;
}
