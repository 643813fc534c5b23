package envvar

import "testing"

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "one", "B": "two", "EMPTY": ""}
	cases := []struct{ name, in, want string }{
		{"plain", "hello", "hello"},
		{"reference", "$(A)", "one"},
		{"two references", "$(A)-$(B)", "one-two"},
		{"empty value", "x$(EMPTY)y", "xy"},
		{"escaped", "$$(A)", "$(A)"},
		{"double escape", "$$$$", "$$"},
		{"unknown kept", "$(NOPE)", "$(NOPE)"},
		{"unterminated", "$(A", "$(A"},
		{"first closer ends the name", "$($(A)", "$($(A)"},
		{"dollar letter", "$A", "$A"},
		{"trailing dollar", "cost$", "cost$"},
		{"escape then ref", "$$$(A)", "$one"},
		{"empty name", "$()", "$()"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Expand(tc.in, lookupIn(vars)); got != tc.want {
				t.Errorf("Expand(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
