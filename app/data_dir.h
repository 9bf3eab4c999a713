// Where the shipped data (demo models, texts) lives: $MAMBASCOPE_DATA_DIR, then the installed
// share/mambascope beside the executable, then the source tree's resources/ (a build tree).
#pragma once

#include <QString>
#include <QStringList>

namespace ms::app {

// The first existing data directory, or an empty string.
QString dataDirectory();
// The demo Mamba-1 the app opens when started without a model; empty when none is shipped.
QString demoModelPath();
// The calibration texts shipped in the data directory (texts/*.txt, extracted by
// resources/training/extract_texts.sh), sorted by name; empty when none were extracted.
QStringList shippedTexts();
// The text calibration uses when none is chosen: Jane Austen's novels (texts/austen.txt), which
// open with Sense and Sensibility, so the default token budget (kDefaultCalibrationTokens)
// covers its first chapters. Empty when the text is not there.
QString defaultCalibrationText();
// 16,384 tokens: Sense and Sensibility up to the start of chapter 8 (63 kB) with the demo
// tokenizer; 35 s of CPU time for the demo Mamba-1 on our 2-core CI machine (seq-len 512, batch 4).
// Enough for the demo models' outlier channels (those seen at 50,000 tokens) to stand out.
inline constexpr qint64 kDefaultCalibrationTokens = 16384;

}  // namespace ms::app
