#!/bin/sh
# make-repo.sh REPO SOURCE — create a git repository at REPO holding a copy
# of SOURCE, committed on main. An existing repository is left alone.
set -eu
repo=$1 src=$2
if [ -d "$repo/.git" ]; then
  exit 0
fi
mkdir -p "$repo"
cp "$src"/*.go "$src"/go.mod "$repo"/
[ -f "$src/Procfile" ] && cp "$src/Procfile" "$repo"/
cd "$repo"
git init -q -b main
git add .
git -c user.name=paved -c user.email=paved@example.invalid commit -q -m "hello: first version"
