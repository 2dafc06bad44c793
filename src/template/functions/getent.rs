//! `$(getent DATABASE KEY)`: a lookup in the system's `passwd`, `group`,
//! `services` or `protocols` database through libc, as syslog-ng's `getent`
//! module. A name gives the number and a number gives the name (`passwd`:
//! user <-> uid, `group`: group <-> gid, `services`: service <-> port,
//! `protocols`: protocol <-> number); with a third argument, `passwd` and
//! `group` give that member instead (`passwd` fields: name, uid, gid, gecos,
//! dir, shell; `group`: name, gid, members). A key not found renders nothing.
//!
//! The lookup runs per render, as in syslog-ng (the database can change); the
//! reentrant `_r` calls use a per-call stack buffer.

use super::{Arg, Args, Function, templates};
use crate::template::{Template, TemplateError};
use libc::{c_char, c_int, protoent, servent, size_t};
use std::ffi::{CStr, CString};

// The reentrant services/protocols lookups are in glibc but not in the libc crate.
unsafe extern "C" {
    fn getservbyname_r(
        name: *const c_char,
        proto: *const c_char,
        result_buf: *mut servent,
        buf: *mut c_char,
        buflen: size_t,
        result: *mut *mut servent,
    ) -> c_int;
    fn getservbyport_r(
        port: c_int,
        proto: *const c_char,
        result_buf: *mut servent,
        buf: *mut c_char,
        buflen: size_t,
        result: *mut *mut servent,
    ) -> c_int;
    fn getprotobyname_r(
        name: *const c_char,
        result_buf: *mut protoent,
        buf: *mut c_char,
        buflen: size_t,
        result: *mut *mut protoent,
    ) -> c_int;
    fn getprotobynumber_r(
        proto: c_int,
        result_buf: *mut protoent,
        buf: *mut c_char,
        buflen: size_t,
        result: *mut *mut protoent,
    ) -> c_int;
}

#[derive(Clone, Copy, Debug)]
enum Db {
    Passwd,
    Group,
    Services,
    Protocols,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Member {
    Default,
    Name,
    Id,
    Gid,
    Gecos,
    Dir,
    Shell,
    Members,
}

#[derive(Clone, Debug)]
pub(in crate::template) struct Getent {
    pub args: Vec<Template>,
    db: Db,
    member: Member,
}

pub(super) fn compile(
    _: &str,
    args: &[Arg],
    call: TemplateError,
) -> Result<Function, TemplateError> {
    let usage =
        "$(getent) takes DATABASE KEY [MEMBER], DATABASE one of passwd, group, services, protocols";
    let (Some(db), 2..=3) = (args.first(), args.len()) else {
        return Err(TemplateError {
            message: usage.into(),
            ..call
        });
    };
    let db_kind = match db.text.as_str() {
        "passwd" => Db::Passwd,
        "group" => Db::Group,
        "services" => Db::Services,
        "protocols" => Db::Protocols,
        _ => return Err(db.error(usage)),
    };
    let member = match (db_kind, args.get(2).map(|a| a.text.as_str())) {
        (_, None) => Member::Default,
        (Db::Passwd | Db::Group, Some("name")) => Member::Name,
        (Db::Passwd, Some("uid")) | (Db::Group, Some("gid")) => Member::Id,
        (Db::Passwd, Some("gid")) => Member::Gid,
        (Db::Passwd, Some("gecos")) => Member::Gecos,
        (Db::Passwd, Some("dir")) => Member::Dir,
        (Db::Passwd, Some("shell")) => Member::Shell,
        (Db::Group, Some("members")) => Member::Members,
        (_, Some(m)) => {
            return Err(args[2].error(format!("$(getent {}) has no member {m:?}", db.text)));
        }
    };
    Ok(Function::Getent(Getent {
        args: templates(&args[1..2])?,
        db: db_kind,
        member,
    }))
}

fn push_c(p: *const libc::c_char, out: &mut Vec<u8>) {
    if !p.is_null() {
        // SAFETY: libc returned a NUL-terminated string inside our buffer.
        out.extend_from_slice(unsafe { CStr::from_ptr(p) }.to_bytes());
    }
}

fn push_num(out: &mut Vec<u8>, n: impl std::fmt::Display) {
    super::list::push_num(out, n);
}

impl Getent {
    pub fn render(&self, a: &Args, out: &mut Vec<u8>) {
        let key = a.get(0);
        let Ok(ckey) = CString::new(key) else { return };
        let numeric = std::str::from_utf8(key)
            .ok()
            .and_then(|k| k.parse::<u32>().ok());
        let mut buf = [0 as libc::c_char; 16384];
        match self.db {
            Db::Passwd => {
                // SAFETY: zeroed passwd is a valid out-parameter for getpw*_r.
                let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
                let mut res: *mut libc::passwd = std::ptr::null_mut();
                // SAFETY: every pointer is valid for the call, buf's length is passed.
                let rc = unsafe {
                    match numeric {
                        Some(uid) => {
                            libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr(), buf.len(), &mut res)
                        }
                        None => libc::getpwnam_r(
                            ckey.as_ptr(),
                            &mut pw,
                            buf.as_mut_ptr(),
                            buf.len(),
                            &mut res,
                        ),
                    }
                };
                if rc != 0 || res.is_null() {
                    return;
                }
                match (self.member, numeric) {
                    (Member::Default, Some(_)) | (Member::Name, _) => push_c(pw.pw_name, out),
                    (Member::Default, None) | (Member::Id, _) => push_num(out, pw.pw_uid),
                    (Member::Gid, _) => push_num(out, pw.pw_gid),
                    (Member::Gecos, _) => push_c(pw.pw_gecos, out),
                    (Member::Dir, _) => push_c(pw.pw_dir, out),
                    (Member::Shell, _) => push_c(pw.pw_shell, out),
                    (Member::Members, _) => {}
                }
            }
            Db::Group => {
                // SAFETY: as for passwd.
                let mut gr: libc::group = unsafe { std::mem::zeroed() };
                let mut res: *mut libc::group = std::ptr::null_mut();
                // SAFETY: as for passwd.
                let rc = unsafe {
                    match numeric {
                        Some(gid) => {
                            libc::getgrgid_r(gid, &mut gr, buf.as_mut_ptr(), buf.len(), &mut res)
                        }
                        None => libc::getgrnam_r(
                            ckey.as_ptr(),
                            &mut gr,
                            buf.as_mut_ptr(),
                            buf.len(),
                            &mut res,
                        ),
                    }
                };
                if rc != 0 || res.is_null() {
                    return;
                }
                match (self.member, numeric) {
                    (Member::Default, Some(_)) | (Member::Name, _) => push_c(gr.gr_name, out),
                    (Member::Members, _) => {
                        let mut p = gr.gr_mem;
                        let mut first = true;
                        // SAFETY: gr_mem is a NULL-terminated array in buf.
                        while !p.is_null() && !unsafe { *p }.is_null() {
                            if !first {
                                out.push(b',');
                            }
                            first = false;
                            push_c(unsafe { *p }, out);
                            p = unsafe { p.add(1) };
                        }
                    }
                    _ => push_num(out, gr.gr_gid),
                }
            }
            Db::Services => {
                // SAFETY: as for passwd.
                let mut se: libc::servent = unsafe { std::mem::zeroed() };
                let mut res: *mut libc::servent = std::ptr::null_mut();
                // SAFETY: as for passwd; the port is in network byte order.
                let rc = unsafe {
                    match numeric.and_then(|n| u16::try_from(n).ok()) {
                        Some(port) => getservbyport_r(
                            i32::from(port.to_be()),
                            std::ptr::null(),
                            &mut se,
                            buf.as_mut_ptr(),
                            buf.len(),
                            &mut res,
                        ),
                        None => getservbyname_r(
                            ckey.as_ptr(),
                            std::ptr::null(),
                            &mut se,
                            buf.as_mut_ptr(),
                            buf.len(),
                            &mut res,
                        ),
                    }
                };
                if rc != 0 || res.is_null() {
                    return;
                }
                match numeric {
                    Some(_) => push_c(se.s_name, out),
                    None => push_num(out, u16::from_be(se.s_port as u16)),
                }
            }
            Db::Protocols => {
                // SAFETY: as for passwd.
                let mut pe: libc::protoent = unsafe { std::mem::zeroed() };
                let mut res: *mut libc::protoent = std::ptr::null_mut();
                // SAFETY: as for passwd.
                let rc = unsafe {
                    match numeric.and_then(|n| i32::try_from(n).ok()) {
                        Some(n) => {
                            getprotobynumber_r(n, &mut pe, buf.as_mut_ptr(), buf.len(), &mut res)
                        }
                        None => getprotobyname_r(
                            ckey.as_ptr(),
                            &mut pe,
                            buf.as_mut_ptr(),
                            buf.len(),
                            &mut res,
                        ),
                    }
                };
                if rc != 0 || res.is_null() {
                    return;
                }
                match numeric {
                    Some(_) => push_c(pe.p_name, out),
                    None => push_num(out, pe.p_proto),
                }
            }
        }
    }
}
