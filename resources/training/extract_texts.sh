#!/usr/bin/env bash
# Extracts the shipped texts from Debian packages into resources/texts/ (not committed):
#   austen.txt      Jane Austen's six novels (r-cran-janeaustenr), training and calibration
#   moby-dick.txt   Melville's Moby Dick (r-cran-tokenizers), the Project Gutenberg header and
#                   licence footer removed: held out for evaluation
# Both texts are in the public domain; the R packages that carry them are MIT-licensed.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=$ROOT/resources/texts
mkdir -p "$OUT"
if [ -s "$OUT/austen.txt" ] && [ -s "$OUT/moby-dick.txt" ]; then exit 0; fi
Rscript --vanilla - "$OUT" <<'REOF'
out <- commandArgs(trailingOnly = TRUE)[1]
library(janeaustenr)
b <- austen_books()
# One novel after another, each line as printed, novels separated by a blank line.
text <- unlist(lapply(levels(b$book), function(k) c(as.character(b$text[b$book == k]), "")))
con <- file(file.path(out, "austen.txt.tmp"), "wb", encoding = "UTF-8")
writeLines(enc2utf8(text), con, sep = "\n", useBytes = TRUE)
close(con)
data(mobydick, package = "tokenizers")
m <- sub("^\ufeff", "", mobydick)
lines <- strsplit(m, "\r?\n")[[1]]
start <- grep("^\\*\\*\\* ?START OF (THIS|THE) PROJECT GUTENBERG", lines)[1]
end <- grep("^\\*\\*\\* ?END OF (THIS|THE) PROJECT GUTENBERG", lines)[1]
if (is.na(start) || is.na(end)) stop("Gutenberg markers not found in mobydick")
body <- lines[(start + 1):(end - 1)]
body <- body[!grepl("^(Produced by |End of (the )?Project Gutenberg)", body)]
while (length(body) && body[1] == "") body <- body[-1]
while (length(body) && body[length(body)] == "") body <- body[-length(body)]
con <- file(file.path(out, "moby-dick.txt.tmp"), "wb", encoding = "UTF-8")
writeLines(enc2utf8(body), con, sep = "\n", useBytes = TRUE)
close(con)
REOF
mv "$OUT/austen.txt.tmp" "$OUT/austen.txt"
mv "$OUT/moby-dick.txt.tmp" "$OUT/moby-dick.txt"
echo "texts: $(wc -c < "$OUT/austen.txt") bytes of Austen, $(wc -c < "$OUT/moby-dick.txt") bytes of Moby Dick in $OUT" >&2
