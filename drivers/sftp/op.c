/*
 * One non-blocking libssh2 operation, waited for: every libssh2 call of the
 * driver goes through sftp_op_wait (poll() on the socket, and on the
 * proxy's stderr, with a short tick: cancellation, timeouts and keepalives
 * are handled there), and its failure is described by sftp_op_fail.
 */
#include "sftp_int.h"

#include <poll.h>
#include <stdio.h>

void sftp_op_start(sftp_op *o, sftp_inst *c, const char *step, const char *path)
{
	o->c = c;
	o->step = step;
	o->path = path;
	o->err = 0;
	o->limit = c->timeout;
	o->deadline = sftp_now_ms() + (int64_t)c->timeout * 1000;
}

void sftp_op_progress(sftp_op *o)
{
	o->deadline = sftp_now_ms() + (int64_t)o->c->timeout * 1000;
	o->limit = o->c->timeout;
}

int sftp_op_wait(sftp_op *o)
{
	sftp_inst *c = o->c;
	const char *sp = o->path ? " " : "";
	const char *p = o->path ? o->path : "";
	if (sftp_canceled(c)) {
		/* libssh2 is in the middle of this call: the session is not reusable */
		sftp_mark_broken(c, "a call was interrupted by a cancel");
		o->err = sftp_err(c, LV_E_CANCELED, "sftp %s: %s%s%s canceled", c->where, o->step, sp, p);
		return o->err;
	}
	if (c->sftp) {
		/*
		 * libssh2 1.10 answers EAGAIN for ever on an SFTP channel the server
		 * closed (its sftp-server ended, the link stays): data sent before
		 * the EOF is read first (libssh2_channel_eof says 0 while some is
		 * left), so once it says EOF no answer can come.
		 */
		LIBSSH2_CHANNEL *ch = libssh2_sftp_get_channel(c->sftp);
		if (ch && libssh2_channel_eof(ch)) {
			sftp_mark_broken(c, "the server closed the SFTP channel (its sftp-server ended)");
			o->err = sftp_err(c, LV_E_IO, "sftp %s: connection lost while trying to %s%s%s: %s", c->where, o->step, sp,
			                  p, c->broken_why);
			return o->err;
		}
	}
	int64_t now = sftp_now_ms();
	int64_t dl = o->deadline;
	if (c->cleanup_mode && c->cleanup_deadline < dl)
		dl = c->cleanup_deadline;
	if (now >= dl) {
		char px[900];
		sftp_proxy_explain(c, px, sizeof px);
		sftp_mark_broken(c, "the server stopped answering");
		o->err = sftp_err(c, LV_E_IO, "sftp %s: %s%s%s: no answer from the server for %d seconds (timeout)%s",
		                  c->where, o->step, sp, p, c->cleanup_mode ? SFTP_CLEANUP_BUDGET : o->limit, px);
		return o->err;
	}
	int dirs = LIBSSH2_SESSION_BLOCK_INBOUND;
	if (c->s) {
		if (c->keepalive > 0 && c->ready) {
			int next = 0;
			(void)libssh2_keepalive_send(c->s, &next); /* may be busy with a partial packet: fine */
		}
		dirs = libssh2_session_block_directions(c->s);
	}
	struct pollfd pfd[2] = {{c->sock, 0, 0}, {c->proxy.err_fd, POLLIN, 0}};
	if (dirs & LIBSSH2_SESSION_BLOCK_INBOUND)
		pfd[0].events |= POLLIN;
	if (dirs & LIBSSH2_SESSION_BLOCK_OUTBOUND)
		pfd[0].events |= POLLOUT;
	if (!pfd[0].events)
		pfd[0].events = POLLIN;
	int64_t wait = dl - now;
	if (wait > SFTP_TICK_MS)
		wait = SFTP_TICK_MS;
	poll(pfd, c->proxy.err_fd >= 0 ? 2 : 1, (int)wait);
	if (c->proxy.err_fd >= 0 && pfd[1].revents)
		sftp_child_drain(c, &c->proxy, "proxy");
	return 0;
}

const char *sftp_fx_text(unsigned long st, int *code)
{
	*code = LV_E_IO;
	switch (st) {
	case LIBSSH2_FX_EOF: return "end of file";
	case LIBSSH2_FX_NO_SUCH_FILE: *code = LV_E_NOT_FOUND; return "no such file or directory";
	case LIBSSH2_FX_PERMISSION_DENIED: return "permission denied";
	case LIBSSH2_FX_FAILURE: return "the server reported a failure";
	case LIBSSH2_FX_BAD_MESSAGE: return "bad message";
	case LIBSSH2_FX_NO_CONNECTION: return "no connection";
	case LIBSSH2_FX_CONNECTION_LOST: return "connection lost";
	case LIBSSH2_FX_OP_UNSUPPORTED: *code = LV_E_UNSUPPORTED; return "operation not supported by the server";
	case LIBSSH2_FX_INVALID_HANDLE: return "invalid handle";
	case LIBSSH2_FX_NO_SUCH_PATH: *code = LV_E_NOT_FOUND; return "no such path";
	case LIBSSH2_FX_FILE_ALREADY_EXISTS: *code = LV_E_EXISTS; return "already exists";
	case LIBSSH2_FX_WRITE_PROTECT: return "write-protected";
	case LIBSSH2_FX_NO_MEDIA: return "no media";
	case LIBSSH2_FX_NO_SPACE_ON_FILESYSTEM: *code = LV_E_NO_SPACE; return "no space left on the remote filesystem";
	case LIBSSH2_FX_QUOTA_EXCEEDED: *code = LV_E_NO_SPACE; return "disk quota exceeded";
	case LIBSSH2_FX_DIR_NOT_EMPTY: return "directory not empty";
	case LIBSSH2_FX_NOT_A_DIRECTORY: return "not a directory";
	case LIBSSH2_FX_INVALID_FILENAME: return "invalid file name";
	case LIBSSH2_FX_LINK_LOOP: return "too many levels of symbolic links";
	default: return "SFTP error";
	}
}

int sftp_op_fail(sftp_op *o, int rc)
{
	sftp_inst *c = o->c;
	const char *sp = o->path ? " " : "";
	const char *p = o->path ? o->path : "";
	if (rc == LIBSSH2_ERROR_SFTP_PROTOCOL && c->sftp) {
		unsigned long st = libssh2_sftp_last_error(c->sftp);
		int code;
		const char *txt = sftp_fx_text(st, &code);
		return sftp_err(c, code, "sftp %s: cannot %s%s%s: %s (SFTP status %lu)", c->where, o->step, sp, p,
		                txt, st);
	}
	char *msg = NULL;
	if (c->s)
		libssh2_session_last_error(c->s, &msg, NULL, 0);
	char why[1200], px[900];
	sftp_proxy_explain(c, px, sizeof px);
	snprintf(why, sizeof why, "%s (libssh2 error %d)%s", msg && *msg ? msg : "connection error", rc, px);
	sftp_mark_broken(c, why);
	return sftp_err(c, LV_E_IO, "sftp %s: connection lost while trying to %s%s%s: %s", c->where, o->step,
	                sp, p, why);
}

int sftp_usable(sftp_inst *c, const char *step, const char *path)
{
	if (sftp_canceled(c))
		return sftp_err(c, LV_E_CANCELED, "sftp %s: %s %s canceled", c->where, step, path ? path : "");
	if (c->broken || !c->sftp)
		return sftp_err(c, LV_E_IO, "sftp %s: cannot %s %s: the connection is unusable (%s)", c->where, step,
		                path ? path : "", c->broken ? c->broken_why : "not connected");
	return 0;
}
