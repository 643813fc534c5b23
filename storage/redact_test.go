package storage_test

import (
	"strings"
	"testing"

	"github.com/sqlkube/sqlkube/storage"
)

func TestRedactDatastore(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"sqlite:///var/lib/sqlkube/state.db", "sqlite:///var/lib/sqlkube/state.db"},
		{"postgres://kube@db:5432/kube?sslmode=disable", "postgres://kube@db:5432/kube?sslmode=disable"},
		{"postgres://kube:s3cret@db:5432/kube?sslmode=disable", "postgres://kube:xxxxx@db:5432/kube?sslmode=disable"},
		{"postgresql://kube:p%40ss@db/kube", "postgresql://kube:xxxxx@db/kube"},
		{"postgres://kube:p@ss@db/kube", "postgres://kube:xxxxx@db/kube"},
		{"postgres://kube:12/s3cret@db/kube", "postgres://kube:xxxxx@db/kube"},
		{"postgres://kube:a#s3cret@db/kube", "postgres://kube:xxxxx@db/kube"},
		{"postgres://kube@db/kube?sslmode=disable&password=s3cret&x=1", "postgres://kube@db/kube?sslmode=disable&password=xxxxx&x=1"},
		{"postgres://db/kube?PASSWORD=s3cret", "postgres://db/kube?PASSWORD=xxxxx"},
		{"host=db user=kube password=s3cret dbname=kube", "host=db user=kube password=xxxxx dbname=kube"},
		{"host=db password = 's3 cr\\'et' dbname=kube", "host=db password = xxxxx dbname=kube"},
	} {
		got := storage.RedactDatastore(tt.in)
		if got != tt.want {
			t.Errorf("RedactDatastore(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if strings.Contains(got, "s3") {
			t.Errorf("RedactDatastore(%q) = %q shows the password", tt.in, got)
		}
	}
}
