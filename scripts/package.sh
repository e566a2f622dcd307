#!/usr/bin/env bash
# Builds the Debian package of the current version:
#   target/debian/postgresql-15-loyalty-ext_<version>-1_<arch>.deb
# It carries what `cargo pgrx install` writes (the control file, the shared
# library loyalty_ext-<version>.so, the install script and every upgrade
# script), plus the shared library and frozen install script of every
# released version (sql/RELEASES): a database still on an older version keeps
# calling its own library until `ALTER EXTENSION loyalty_ext UPDATE`.
# Prints the path of the package.  Needs root for apt (set-up only).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ensure_packages >&2
ensure_pgrx >&2

version=$(current_version)
arch=$(dpkg --print-architecture)
name=postgresql-15-loyalty-ext
revision=1
out="$ROOT/target/debian"
stage="$out/${name}_${version}-${revision}_${arch}"
deb="$stage.deb"
libdir=$("$PG_CONFIG" --pkglibdir)
extdir=$("$PG_CONFIG" --sharedir)/extension

log "packaging loyalty_ext $version (cargo pgrx package)" >&2
(cd "$ROOT" && cargo pgrx package --pg-config "$PG_CONFIG" >&2)
tree="$ROOT/target/release/loyalty_ext-pg15"

rm -rf "$stage" && mkdir -p "$stage"
cp -a "$tree/." "$stage/"

# Every released version: its library (never rebuilt from today's code) and
# its frozen install script.
for v in $(released_versions); do
    [ "$v" = "$version" ] && continue
    rtree=$(build_released "$v")
    for so in "$rtree$libdir"/loyalty_ext*.so; do
        cp "$so" "$stage$libdir/"
    done
    cp "$ROOT/sql/loyalty_ext--$v.sql" "$stage$extdir/"
done

doc="$stage/usr/share/doc/$name"
mkdir -p "$doc"
cat >"$doc/copyright" <<COPY
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: loyalty_ext
License: MIT
COPY
gzip -9n <"$ROOT/CHANGELOG.md" >"$doc/changelog.gz"

mkdir -p "$stage/DEBIAN"
cat >"$stage/DEBIAN/control" <<CONTROL
Package: $name
Version: $version-$revision
Architecture: $arch
Maintainer: loyalty_ext maintainers <loyalty-ext@localhost>
Depends: postgresql-15
Section: database
Priority: optional
Installed-Size: $(du -sk --exclude=DEBIAN "$stage" | cut -f1)
Description: casino player-loyalty ledger for PostgreSQL 15
 loyalty_ext keeps a casino's player-loyalty ledger inside PostgreSQL: one
 SQL call is one atomic, row-locked, audited change.  Install, then run
 CREATE EXTENSION loyalty_ext (or ALTER EXTENSION loyalty_ext UPDATE).
 Carries the shared library of every released version, so databases not yet
 updated keep working.
CONTROL

find "$stage" -type d -exec chmod 755 {} +
find "$stage" -type f -exec chmod 644 {} +
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >&2
echo "$deb"
