#!/usr/bin/env python3
"""Reads this machine's apt sources at run time (nothing is hard-coded in the repo).

  apt_sources.py mirror SUITE   -> the first http(s) URI that serves SUITE/main (for debootstrap)
  apt_sources.py deb822 SUITE   -> deb822 stanzas for SUITE, SUITE-updates, SUITE-security (main),
                                   taken from the machine's own entries, for the images' apt

Understands deb822 (*.sources) and one-line (*.list, sources.list) files; files apt ignores
(other extensions, e.g. *.disabled) are ignored here too.
"""
import glob
import os
import sys

APT = "/etc/apt"


def entries():
    files = []
    if os.path.isfile(f"{APT}/sources.list"):
        files.append(f"{APT}/sources.list")
    files += sorted(glob.glob(f"{APT}/sources.list.d/*.list"))
    files += sorted(glob.glob(f"{APT}/sources.list.d/*.sources"))
    for path in files:
        text = open(path, encoding="utf-8").read()
        if path.endswith(".sources"):
            for block in text.split("\n\n"):
                fields, key = {}, None
                for line in block.splitlines():
                    if not line.strip() or line.lstrip().startswith("#"):
                        continue
                    if line[0] in " \t" and key:
                        fields[key] += " " + line.strip()
                        continue
                    key, _, value = line.partition(":")
                    key = key.strip().lower()
                    fields[key] = value.strip()
                if fields.get("enabled", "yes").lower() == "no":
                    continue
                if "deb" not in fields.get("types", "").split():
                    continue
                for uri in fields.get("uris", "").split():
                    yield {
                        "uri": uri,
                        "suites": fields.get("suites", "").split(),
                        "components": fields.get("components", "").split(),
                        "signed_by": fields.get("signed-by", ""),
                    }
        else:
            for line in text.splitlines():
                words = line.split("#", 1)[0].split()
                if not words or words[0] != "deb":
                    continue
                words = words[1:]
                signed_by = ""
                if words and words[0].startswith("["):
                    opts = []
                    while words:
                        w = words.pop(0)
                        opts.append(w)
                        if w.endswith("]"):
                            break
                    for o in " ".join(opts).strip("[] ").split():
                        if o.startswith("signed-by="):
                            signed_by = o.split("=", 1)[1]
                if len(words) < 3:
                    continue
                yield {"uri": words[0], "suites": [words[1]], "components": words[2:], "signed_by": signed_by}


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("mirror", "deb822"):
        sys.exit(__doc__)
    mode, suite = sys.argv[1:]
    found = [e for e in entries() if e["uri"].startswith(("http://", "https://")) and "main" in e["components"]]
    if mode == "mirror":
        for e in found:
            if suite in e["suites"]:
                print(e["uri"].rstrip("/"))
                return
        sys.exit(f"apt_sources: no apt source on this machine serves '{suite}' main")
    wanted = {suite, f"{suite}-updates", f"{suite}-security"}
    out = []
    for e in found:
        suites = [s for s in e["suites"] if s in wanted]
        if not suites:
            continue
        stanza = [
            "Types: deb",
            f"URIs: {e['uri']}",
            f"Suites: {' '.join(suites)}",
            "Components: main",
            "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg",
        ]
        out.append("\n".join(stanza))
    if not any(suite in e["suites"] for e in found):
        sys.exit(f"apt_sources: no apt source on this machine serves '{suite}' main")
    print("\n\n".join(out))


if __name__ == "__main__":
    main()
