package registry

import (
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
)

// This file holds the small helpers every resource's Row uses, whatever
// its API group.

// age returns the time elapsed since t the way kubectl's AGE and LAST SEEN
// columns show it ("5m", "3d4h"), or "<unknown>" when t is unset.
func age(t metav1.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(time.Since(t.Time))
}

// joinOrNone joins items with sep, or returns "<none>" when there are none,
// which is how kube's printers show an empty list in a cell.
func joinOrNone(items []string, sep string) string {
	if len(items) == 0 {
		return "<none>"
	}
	return strings.Join(items, sep)
}

// orNone returns s, or "<none>" when s is empty: an unset value in a cell.
func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
