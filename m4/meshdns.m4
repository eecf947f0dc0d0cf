# SPDX-License-Identifier: BSD-3-Clause
# meshdns autoconf helpers.

# MESHDNS_REQUIRE(VARIABLE-PREFIX, MODULES, DEBIAN-PACKAGE)
# ---------------------------------------------------------
# PKG_CHECK_MODULES that stops configure with the Debian package to install.
AC_DEFUN([MESHDNS_REQUIRE], [
	PKG_CHECK_MODULES([$1], [$2], [],
		[AC_MSG_ERROR([$2 not found ($$1_PKG_ERRORS).
On Debian/Ubuntu install it with:  apt-get install $3])])
])

# MESHDNS_ADD_CFLAG(VARIABLE, FLAG)
# ---------------------------------
# Append FLAG to VARIABLE when the C compiler accepts it (with -Werror so
# that unknown warning options are not silently accepted).
AC_DEFUN([MESHDNS_ADD_CFLAG], [
	AS_VAR_PUSHDEF([cache], [meshdns_cv_cflag_$2])
	AC_CACHE_CHECK([whether $CC accepts $2], [cache], [
		save_CFLAGS="$CFLAGS"
		CFLAGS="$CFLAGS -Werror $2"
		AC_COMPILE_IFELSE([AC_LANG_PROGRAM([], [])],
			[AS_VAR_SET([cache], [yes])], [AS_VAR_SET([cache], [no])])
		CFLAGS="$save_CFLAGS"])
	AS_VAR_IF([cache], [yes], [$1="$$1 $2"])
	AS_VAR_POPDEF([cache])
])

# MESHDNS_SANITIZERS
# ------------------
# --enable-sanitizers: AddressSanitizer + UndefinedBehaviorSanitizer.
AC_DEFUN([MESHDNS_SANITIZERS], [
	AC_ARG_ENABLE([sanitizers],
		[AS_HELP_STRING([--enable-sanitizers], [build with ASan and UBSan])],
		[], [enable_sanitizers=no])
	AS_IF([test "x$enable_sanitizers" = xyes], [
		san="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
		save_CFLAGS="$CFLAGS"; save_LDFLAGS="$LDFLAGS"
		CFLAGS="$CFLAGS $san"; LDFLAGS="$LDFLAGS $san"
		AC_MSG_CHECKING([whether $CC supports ASan and UBSan])
		AC_LINK_IFELSE([AC_LANG_PROGRAM([], [])],
			[AC_MSG_RESULT([yes])],
			[AC_MSG_RESULT([no]); AC_MSG_ERROR([--enable-sanitizers: compiler does not support $san])])
		CFLAGS="$save_CFLAGS -g -O1"; LDFLAGS="$save_LDFLAGS"
		MESHDNS_CFLAGS="$MESHDNS_CFLAGS $san"
		AC_SUBST([SANITIZER_LDFLAGS], [$san])
	])
])

# MESHDNS_FUZZING
# ---------------
# --enable-fuzzing: libFuzzer targets (needs clang); the library is built
# with coverage for the fuzzer and ASan+UBSan.
AC_DEFUN([MESHDNS_FUZZING], [
	AC_ARG_ENABLE([fuzzing],
		[AS_HELP_STRING([--enable-fuzzing], [build libFuzzer targets (CC=clang)])],
		[], [enable_fuzzing=no])
	AS_IF([test "x$enable_fuzzing" = xyes], [
		fz="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer"
		save_CFLAGS="$CFLAGS"
		CFLAGS="$CFLAGS -fsanitize=fuzzer"
		AC_MSG_CHECKING([whether $CC supports libFuzzer])
		AC_LINK_IFELSE([AC_LANG_SOURCE([[
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return 0; }]])],
			[AC_MSG_RESULT([yes])],
			[AC_MSG_RESULT([no]); AC_MSG_ERROR([--enable-fuzzing needs clang with libFuzzer (CC=clang; Debian: clang libclang-rt-14-dev)])])
		CFLAGS="$save_CFLAGS -g -O1"
		MESHDNS_CFLAGS="$MESHDNS_CFLAGS $fz"
		AC_SUBST([SANITIZER_LDFLAGS], ["-fsanitize=address,undefined"])
	])
	AM_CONDITIONAL([FUZZING], [test "x$enable_fuzzing" = xyes])
])
