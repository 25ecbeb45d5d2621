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
 * With "hold" it waits forever instead of resetting, for a host that ends
 * the VM itself once it has read the trace from guest memory. With
 * "switches" it first times 20,000 round trips over a pipe between two
 * processes (40,000 context switches, each through every scheduler hook)
 * and prints the time: the cost of the patch after the boot
 * (scripts/measure-overhead.sh). With "netns" it frees a network
 * namespace and marks "netns-done" after its cleanup (rcu_barrier()).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/wait.h>
#include <time.h>

#define ROUND_TRIPS 20000

/* Times ROUND_TRIPS round trips of one byte between two processes. */
static void switches(void)
{
	int ping[2], pong[2], i;
	struct timespec a, b;
	char c = 0;
	pid_t child;

	if (pipe(ping) || pipe(pong)) {
		perror("boottrace-init: pipe");
		return;
	}
	child = fork();
	if (child < 0) {
		perror("boottrace-init: fork");
		return;
	}
	if (child == 0) {
		/* Only the parent writes ping: its close ends this loop. */
		close(ping[1]);
		while (read(ping[0], &c, 1) == 1 && write(pong[1], &c, 1) == 1)
			;
		_exit(0);
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (i = 0; i < ROUND_TRIPS; i++)
		if (write(ping[1], &c, 1) != 1 || read(pong[0], &c, 1) != 1)
			break;
	clock_gettime(CLOCK_MONOTONIC, &b);
	close(ping[1]);
	waitpid(child, NULL, 0);
	printf("boottrace-init: %d round trips in %ld ns\n", i,
	       (long)((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec)));
	fflush(stdout);
}

/* Adds a BOOT_TRACE userspace mark, when the kernel has the patch. */
static void mark(const char *name)
{
	int fd = open("/proc/boot_trace_mark", O_WRONLY);

	if (fd >= 0) {
		write(fd, name, strlen(name));
		close(fd);
	}
}

/*
 * Creates a network namespace in a child that exits at once: the kernel
 * frees it in a workqueue (cleanup_net), which calls rcu_barrier(). Marks
 * "netns-done" two seconds later, time enough for the cleanup.
 */
static void netns(void)
{
	pid_t child = fork();

	if (child == 0) {
		if (unshare(CLONE_NEWNET))
			perror("boottrace-init: unshare");
		_exit(0);
	}
	waitpid(child, NULL, 0);
	sleep(2);
	mark("netns-done");
	printf("boottrace-init: freed a network namespace\n");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	int fd;

	mount("proc", "/proc", "proc", 0, NULL);
	mark("init");
	printf("boottrace-init: reached userspace\n");
	fflush(stdout);
	if (argc > 1 && strcmp(argv[1], "exit") == 0)
		return 0;
	if (argc > 1 && strcmp(argv[1], "switches") == 0)
		switches();
	if (argc > 1 && strcmp(argv[1], "netns") == 0)
		netns();
	while (argc > 1 && strcmp(argv[1], "hold") == 0)
		pause();
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
