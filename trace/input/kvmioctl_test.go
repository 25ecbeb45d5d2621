package input

import "testing"

func TestNames(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{ioctlName(0xae80), "KVM_RUN"},
		{ioctlName(0x4020ae46), "KVM_SET_USER_MEMORY_REGION"},
		{ioctlName(0x5401), "TCGETS"},
		{ioctlName(0x1234), "ioctl 0x1234"},
		{exitReason(2), "io"},
		{exitReason(99), "reason 99"},
		{vmExitName(1, 30), "io"},
		{vmExitName(1, 48), "ept violation"},
		{vmExitName(2, 0x7b), "io"},
		{vmExitName(2, 0x4e), "exception 14"},
		{vmExitName(1, 999), "999"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
