package storage

import (
	"net/url"
	"regexp"
	"strings"
)

const redacted = "xxxxx"

var (
	// queryPassword is a password= parameter of a URL's query.
	queryPassword = regexp.MustCompile(`(?i)([?&]password=)[^&#]*`)
	// keywordPassword is password=VALUE in a key=value connection string,
	// the value bare or single-quoted (with backslash escapes).
	keywordPassword = regexp.MustCompile(`(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'?|[^\s]*)`)
)

// RedactDatastore returns a datastore URL (or PostgreSQL key=value
// connection string) fit for logs and errors: any password, in the user
// information or a password= parameter, is replaced by "xxxxx".
func RedactDatastore(ds string) string {
	scheme := strings.Index(ds, "://")
	if scheme < 0 {
		return keywordPassword.ReplaceAllString(ds, "${1}"+redacted)
	}
	if u, err := url.Parse(ds); err == nil && (u.User != nil || !strings.Contains(ds[scheme+3:], "@")) {
		ds = u.Redacted()
	} else if at := strings.LastIndex(ds, "@"); at > scheme {
		// Not a URL Go parses as one with user information (a password
		// with an unescaped '/' or '#', say): hide whatever follows the
		// user name up to the last '@'.
		userinfo := ds[scheme+3 : at]
		if i := strings.Index(userinfo, ":"); i >= 0 {
			ds = ds[:scheme+3] + userinfo[:i] + ":" + redacted + ds[at:]
		}
	}
	return queryPassword.ReplaceAllString(ds, "${1}"+redacted)
}
