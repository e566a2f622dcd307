#!/usr/bin/env bash
# Checks the Debian package built by scripts/package.sh, then installs it.
#   - named and versioned the Debian way, depending on postgresql-15;
#   - exactly the files expected: what `cargo pgrx install` writes for the
#     current version (byte for byte the files it wrote), every upgrade
#     script, and each released version's library and frozen install script;
#   - installed with dpkg -i, it leaves those files in place.
#   tests/package/check.sh PACKAGE.deb
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/common.sh"

DEB=${1:?usage: tests/package/check.sh PACKAGE.deb}
die() { echo "PACKAGE CHECK FAILED: $*" >&2; exit 1; }

version=$(current_version)
arch=$(dpkg --print-architecture)
libdir=$("$PG_CONFIG" --pkglibdir)
extdir=$("$PG_CONFIG" --sharedir)/extension

[ "$(basename "$DEB")" = "postgresql-15-loyalty-ext_${version}-1_${arch}.deb" ] ||
    die "package name $(basename "$DEB")"
[ "$(dpkg-deb -f "$DEB" Package)" = postgresql-15-loyalty-ext ] || die "Package field"
[ "$(dpkg-deb -f "$DEB" Version)" = "${version}-1" ] || die "Version field"
dpkg-deb -f "$DEB" Depends | grep -qw 'postgresql-15' || die "does not depend on postgresql-15"

# The files it must carry, and nothing else.
expected=$(mktemp) actual=$(mktemp)
{
    echo "$extdir/loyalty_ext.control"
    echo "$libdir/loyalty_ext-$version.so"
    echo "$extdir/loyalty_ext--$version.sql"
    for f in "$ROOT"/sql/loyalty_ext--*--*.sql; do echo "$extdir/$(basename "$f")"; done
    for v in $(released_versions); do
        [ "$v" = "$version" ] && continue
        echo "$extdir/loyalty_ext--$v.sql"
        for so in "$(build_released "$v")$libdir"/loyalty_ext*.so; do echo "$libdir/$(basename "$so")"; done
    done
    echo /usr/share/doc/postgresql-15-loyalty-ext/copyright
    echo /usr/share/doc/postgresql-15-loyalty-ext/changelog.gz
} | sort -u >"$expected"
dpkg-deb -c "$DEB" | awk '$1 !~ /^d/ { sub(/^\./, "", $6); print $6 }' | sort >"$actual"
diff -u "$expected" "$actual" || die "package contents (- expected, + in the package)"

# The current version's files are the ones `cargo pgrx install` wrote
# (scripts/common.sh installed them before this check).
unpacked=$(mktemp -d)
dpkg-deb -x "$DEB" "$unpacked"
for f in "$extdir/loyalty_ext.control" "$libdir/loyalty_ext-$version.so" "$extdir/loyalty_ext--$version.sql" \
         "$extdir"/loyalty_ext--*--*.sql; do
    cmp -s "$f" "$unpacked$f" || die "$f differs from what cargo pgrx install wrote"
done
grep -q "^default_version = '$version'" "$unpacked$extdir/loyalty_ext.control" || die "control file version"
if grep -q '^module_pathname' "$unpacked$extdir/loyalty_ext.control"; then
    die "control file names one library for every version (module_pathname)"
fi

dpkg -i "$DEB" >/dev/null || die "dpkg -i"
dpkg-query -W -f='${Status} ${Version}\n' postgresql-15-loyalty-ext | grep -q "install ok installed ${version}-1" ||
    die "not installed"
while read -r f; do
    cmp -s "$f" "$unpacked$f" || die "$f not installed from the package"
done <"$actual"
rm -rf "$unpacked" "$expected" "$actual"
echo "package $(basename "$DEB"): contents and installation checked"
