package console

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"stratus/internal/sigv4"
)

const cookieName = "stratus_console"

// handlerFunc is a handler of a logged-in request.
type handlerFunc func(w http.ResponseWriter, r *http.Request, sess *session)

// authed admits requests of a live session, and state-changing ones only with its CSRF
// token.
func (s *Server) authed(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(cookieName)
		var sess *session
		if err == nil {
			sess = s.sessions.get(c.Value)
		}
		if sess == nil {
			writeError(w, http.StatusUnauthorized, "not logged in, or the session expired")
			return
		}
		if stateChanging(r.Method) && !sess.csrfOK(r.Header.Get("X-CSRF-Token")) {
			writeError(w, http.StatusForbidden, "missing or wrong CSRF token")
			return
		}
		h(w, r, sess)
	}
}

// adminOnly admits only the admin account's sessions, on a console with an Admin.
func (s *Server) adminOnly(h handlerFunc) http.HandlerFunc {
	return s.authed(func(w http.ResponseWriter, r *http.Request, sess *session) {
		if !sess.admin || s.cfg.Admin == nil {
			writeError(w, http.StatusForbidden, "only the admin account may do this")
			return
		}
		h(w, r, sess)
	})
}

type loginRequest struct {
	AccessKey string `json:"access_key"`
	SecretKey string `json:"secret_key"`
}

type sessionInfo struct {
	Account   string `json:"account"`
	AccessKey string `json:"access_key"`
	Admin     bool   `json:"admin"`
	CSRF      string `json:"csrf"`
	Compute   bool   `json:"compute"`
	ExpiresAt string `json:"expires_at"`
}

func (s *Server) info(sess *session) sessionInfo {
	return sessionInfo{Account: sess.account, AccessKey: sess.accessKey, Admin: sess.admin, CSRF: sess.csrf,
		Compute: sess.clients.ec2 != nil, ExpiresAt: sess.expires.UTC().Format("2006-01-02T15:04:05Z")}
}

// login checks the key with a signed ListBuckets, which also names its account.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	// A JSON body: a cross-site form cannot send one without the browser asking first, so
	// no other site can log a visitor in to an account of its choosing.
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "log in with a JSON body")
		return
	}
	var req loginRequest
	if !readJSON(w, r, &req) {
		return
	}
	req.AccessKey = strings.TrimSpace(req.AccessKey)
	if req.AccessKey == "" || req.SecretKey == "" {
		writeError(w, http.StatusBadRequest, "enter an access key and a secret key")
		return
	}
	addr := sigv4.ClientAddr(r, s.cfg.TrustedProxies)
	if scope, wait := s.logins.Admit(req.AccessKey, addr, time.Now()); scope != "" {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		writeError(w, http.StatusTooManyRequests, fmt.Sprintf("too many failed logins (by %s): try again in %d s", scope, int(wait.Seconds())+1))
		return
	}
	cl := newClients(s.cfg, req.AccessKey, req.SecretKey)
	ctx, cancel := s.callCtx(r)
	defer cancel()
	out, err := cl.s3.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		var re *smithyhttp.ResponseError
		if errors.As(err, &re) && (re.HTTPStatusCode() == http.StatusForbidden || re.HTTPStatusCode() == http.StatusUnauthorized) {
			s.logins.Failed(req.AccessKey, addr, time.Now())
		}
		// The key is not logged, let alone the secret.
		s.log.Info("console login refused", "err", apiMessage(err))
		writeError(w, http.StatusUnauthorized, "login refused: "+apiMessage(err))
		return
	}
	s.logins.Succeeded(req.AccessKey, addr, time.Now())
	account := ""
	if out.Owner != nil {
		account = aws.ToString(out.Owner.ID)
	}
	sess := s.sessions.create(&session{accessKey: req.AccessKey, secretKey: req.SecretKey, account: account,
		admin: account != "" && account == s.cfg.AdminAccount, clients: cl})
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: sess.id, Path: "/", HttpOnly: true,
		Secure: s.cfg.SecureCookies, SameSite: http.SameSiteStrictMode, MaxAge: int(s.cfg.SessionTTL.Seconds())})
	writeJSON(w, http.StatusOK, s.info(sess))
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, sess *session) {
	s.sessions.remove(sess.id)
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", HttpOnly: true,
		Secure: s.cfg.SecureCookies, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

func (s *Server) whoami(w http.ResponseWriter, r *http.Request, sess *session) {
	writeJSON(w, http.StatusOK, s.info(sess))
}
