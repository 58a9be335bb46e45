using System.Globalization;
using System.Text;

namespace Recur.Data;

/// <summary>
/// A delimited text table (CSV, TSV, semicolon-separated) read whole into memory, with every record's line number
/// kept so that any later complaint about a cell can name <c>file:line</c> and the column exactly.
/// <para>
/// Format (RFC 4180 and the usual variations; tab-separated files are read without quoting, as TSV defines):
/// fields may be quoted with <c>"</c>; a quoted field may hold the
/// delimiter, line breaks and doubled quotes (<c>""</c> → <c>"</c>); spaces around a quoted field are ignored. CRLF,
/// LF or lone CR end a record; a UTF-8 byte-order mark is dropped. Blank lines before the first record and blank
/// records at the end (empty lines, or lines of delimiters only) are ignored; a blank line inside a table of two or
/// more columns is skipped, while in a one-column table it is a row with an empty (missing) cell. Unquoted cells
/// that are numbers with surrounding whitespace are stored trimmed; other cells are kept as written. Header names
/// are trimmed.
/// </para>
/// <para>
/// Delimiter: the one given; else tab for <c>.tsv</c>/<c>.tab</c> files or when the first line contains a tab; else
/// <c>;</c> when the first line has a <c>;</c> and no <c>,</c>; else comma.
/// </para>
/// Every problem with the file is an <see cref="InvalidInputException"/> whose message starts with the source name,
/// or <c>source:line</c> when a line is at fault.
/// </summary>
public sealed class CsvTable
{
    /// <summary>At most this many column names are listed when a column is not found.</summary>
    private const int MaxListedColumns = 20;

    private static readonly HashSet<string> MissingTokens = new(StringComparer.OrdinalIgnoreCase)
    {
        "", "NA", "N/A", "#N/A", "NaN", "-NaN", "null", "None", "?",
    };

    private readonly string[][] _rows;
    private readonly int[] _lines;
    private readonly string[] _columnNames;

    private CsvTable(string source, char delimiter, string[] columnNames, string[][] rows, int[] lines)
    {
        Source = source;
        Delimiter = delimiter;
        _columnNames = columnNames;
        _rows = rows;
        _lines = lines;
        HasHeader = false;
    }

    /// <summary>The path or name as given, used at the start of every message.</summary>
    public string Source { get; }

    /// <summary>The field delimiter, given or detected.</summary>
    public char Delimiter { get; }

    /// <summary>Whether the first record was read as a header.</summary>
    public bool HasHeader { get; private init; }

    /// <summary>The header's names, or <c>"0"</c>, <c>"1"</c>, … when the table has no header.</summary>
    public IReadOnlyList<string> ColumnNames => _columnNames;

    /// <summary>Number of data rows (the header not counted).</summary>
    public int RowCount => _rows.Length;

    /// <summary>Number of fields in every record.</summary>
    public int ColumnCount => _columnNames.Length;

    /// <summary>Reads a file (strict UTF-8, with or without a byte-order mark).</summary>
    /// <exception cref="InvalidInputException">The file is missing, unreadable, empty or malformed.</exception>
    public static CsvTable Read(string path, bool hasHeader = true, char? delimiter = null)
    {
        return Parse(TextFile.Read(path), path, hasHeader, delimiter);
    }

    /// <summary>Parses text already in memory; <paramref name="sourceName"/> names it in messages (and, by its
    /// extension, may select the tab delimiter).</summary>
    /// <exception cref="InvalidInputException">The text is empty or malformed.</exception>
    public static CsvTable Parse(string text, string sourceName, bool hasHeader = true, char? delimiter = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(sourceName);
        if (text.Length > 0 && text[0] == '\uFEFF')
            text = text[1..];
        char delim = delimiter ?? DetectDelimiter(text, sourceName);
        if (delim is '"' or '\r' or '\n')
            throw new InvalidInputException($"{sourceName}: the delimiter cannot be {Describe(delim.ToString())}");

        List<Record> records = Tokenize(text, sourceName, delim);

        // Blank records before the first record and after the last one are not part of the table.
        int first = 0, end = records.Count;
        while (first < end && records[first].IsBlankLine)
            first++;
        while (end > first && records[end - 1].IsAllEmpty)
            end--;
        if (first == end)
            throw new InvalidInputException($"{sourceName} has no data rows (the file is empty)");

        Record head = records[first];
        int columns = head.Fields.Length;
        string[] names;
        int dataStart;
        if (hasHeader)
        {
            names = new string[columns];
            for (int c = 0; c < columns; c++)
                names[c] = head.Fields[c].Text.Trim();
            dataStart = first + 1;
            if (dataStart == end)
                throw new InvalidInputException($"{sourceName} has no data rows (only a header line)");
        }
        else
        {
            names = new string[columns];
            for (int c = 0; c < columns; c++)
                names[c] = c.ToString(CultureInfo.InvariantCulture);
            dataStart = first;
        }

        var rows = new List<string[]>(end - dataStart);
        var lines = new List<int>(end - dataStart);
        for (int r = dataStart; r < end; r++)
        {
            Record record = records[r];
            if (record.IsBlankLine && columns > 1)
                continue;
            if (record.Fields.Length != columns)
            {
                string reference = hasHeader ? "as in the header" : $"as in the first row, line {head.Line}";
                throw new InvalidInputException(
                    $"{sourceName}:{record.Line}: expected {columns} field{Plural(columns)} ({reference}) " +
                    $"but found {record.Fields.Length}");
            }
            var cells = new string[columns];
            for (int c = 0; c < columns; c++)
                cells[c] = record.Fields[c].Cell;
            rows.Add(cells);
            lines.Add(record.Line);
        }
        if (rows.Count == 0)
            throw new InvalidInputException($"{sourceName} has no data rows (only blank lines after the header)");

        return new CsvTable(sourceName, delim, names, rows.ToArray(), lines.ToArray()) { HasHeader = hasHeader };
    }

    /// <summary>Whether a cell is a missing-value marker as <see cref="Numeric(int, bool)"/> reads it: empty, NA, N/A, #N/A,
    /// NaN, null, None or ? (any case, surrounding spaces ignored).</summary>
    public static bool IsMissing(string cell) => MissingTokens.Contains(cell.Trim());

    /// <summary>The cell's text: quotes removed, escapes resolved.</summary>
    public string Cell(int row, int column)
    {
        CheckRow(row);
        CheckColumn(column);
        return _rows[row][column];
    }

    /// <summary>The 1-based line of the file on which data row <paramref name="row"/> starts.</summary>
    public int LineNumber(int row)
    {
        CheckRow(row);
        return _lines[row];
    }

    /// <summary>A hint when the whole header is one column holding another likely delimiter.</summary>
    private string DelimiterHint()
    {
        if (ColumnCount != 1) return "";
        char? other = new[] { ';', '|', '\t', ',' }.Where(c => c != Delimiter).Cast<char?>().FirstOrDefault(c => _columnNames[0].Contains(c!.Value));
        static string Name(char c) => c == '\t' ? "tabs" : $"'{c}'";
        return other is char c ? $" (one column: is the file delimited by {Name(c)} rather than {Name(Delimiter)}?)" : "";
    }

    /// <summary>
    /// Finds a column: a header name matching exactly; else the one header name matching without regard to case;
    /// else a 0-based column index.
    /// </summary>
    /// <exception cref="InvalidInputException">No such column, an index out of range, or a name that matches
    /// several columns.</exception>
    public int ColumnIndex(string nameOrIndex)
    {
        ArgumentNullException.ThrowIfNull(nameOrIndex);
        if (HasHeader)
        {
            int? exact = Unique(nameOrIndex, StringComparison.Ordinal);
            if (exact is int e)
                return e;
            string trimmed = nameOrIndex.Trim();
            int? folded = Unique(trimmed, StringComparison.OrdinalIgnoreCase);
            if (folded is int f)
                return f;
        }

        string s = nameOrIndex.Trim();
        if (s.Length > 0 && s.All(char.IsAsciiDigit))
        {
            if (int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out int index) && index < ColumnCount)
                return index;
            throw new InvalidInputException(
                $"{Source} has no column {s}: it has {ColumnCount} column{Plural(ColumnCount)} " +
                $"(0-based indices 0 to {ColumnCount - 1})");
        }
        throw new InvalidInputException($"{Source} has no column '{nameOrIndex}'; columns are: {ListColumns()}{DelimiterHint()}");
    }

    /// <summary>
    /// Every cell of a column as a number (invariant culture: '.' decimal point, optional sign and exponent,
    /// surrounding spaces allowed, no thousands separators).
    /// </summary>
    /// <exception cref="InvalidInputException">A cell is empty or a missing-value marker (NA, NaN, null, ?, …),
    /// not a number, or infinite; the message names file, line and column.</exception>
    public double[] Numeric(int column) => Numeric(column, allowMissing: false);

    /// <summary>
    /// Every cell parsed as a number; with <paramref name="allowMissing"/> a missing cell (empty, NA, NaN, …) comes
    /// back as NaN for the caller's missing-value policy, otherwise it is an error naming its line. Text that is
    /// not a number is always an error.
    /// </summary>
    public double[] Numeric(int column, bool allowMissing)
    {
        CheckColumn(column);
        var values = new double[RowCount];
        for (int r = 0; r < values.Length; r++)
        {
            string cell = _rows[r][column];
            string t = cell.Trim();
            if (MissingTokens.Contains(t))
            {
                if (allowMissing)
                {
                    values[r] = double.NaN;
                    continue;
                }
                string what = t.Length == 0 ? "empty" : $"'{Clip(t)}'";
                throw new InvalidInputException($"{Where(r, column)}: missing value ({what}); fill it, or choose a policy with --missing interpolate|ffill|drop");
            }
            if (!TryParseNumber(t, out double v))
            {
                string hint = t.Contains(',') ? " (the decimal point must be '.', and thousands separators are not accepted)" : "";
                throw new InvalidInputException($"{Where(r, column)}: expected a number but found '{Clip(cell)}'{hint}");
            }
            if (!double.IsFinite(v))
                throw new InvalidInputException($"{Where(r, column)}: expected a finite number but found '{Clip(cell)}'");
            values[r] = v;
        }
        return values;
    }

    /// <summary>Every cell of a column as written; with <paramref name="allowEmpty"/> false an empty cell is an error naming its line.</summary>
    public string[] Text(int column, bool allowEmpty = true)
    {
        CheckColumn(column);
        var values = new string[RowCount];
        for (int r = 0; r < values.Length; r++)
        {
            values[r] = _rows[r][column];
            if (!allowEmpty && string.IsNullOrWhiteSpace(values[r]))
                throw new InvalidInputException($"{Where(r, column)}: missing value (empty); every row needs one.");
        }
        return values;
    }

    private string Where(int row, int column) => $"{Source}:{_lines[row]}, column '{_columnNames[column]}'";

    private int? Unique(string name, StringComparison comparison)
    {
        int found = -1, count = 0;
        for (int c = 0; c < _columnNames.Length; c++)
        {
            if (string.Equals(_columnNames[c], name, comparison))
            {
                if (count == 0)
                    found = c;
                count++;
            }
        }
        if (count == 0)
            return null;
        if (count == 1)
            return found;
        var matches = new List<string>();
        for (int c = 0; c < _columnNames.Length; c++)
            if (string.Equals(_columnNames[c], name, comparison))
                matches.Add($"'{_columnNames[c]}' (index {c})");
        throw new InvalidInputException(
            $"{Source}: column '{name}' is ambiguous: {count} columns match{(comparison == StringComparison.Ordinal ? "" : " ignoring case")}, " +
            $"{string.Join(", ", matches)}; give the exact name of a unique column or a 0-based index");
    }

    private string ListColumns()
    {
        int shown = Math.Min(MaxListedColumns, _columnNames.Length);
        string list = string.Join(", ", _columnNames.Take(shown).Select(n => n.Length == 0 ? "''" : n));
        int more = _columnNames.Length - shown;
        return more > 0 ? $"{list}, … ({more} more)" : list;
    }

    private void CheckRow(int row)
    {
        if ((uint)row >= (uint)_rows.Length)
            throw new ArgumentOutOfRangeException(nameof(row), row, $"row must be in [0, {_rows.Length})");
    }

    private void CheckColumn(int column)
    {
        if ((uint)column >= (uint)_columnNames.Length)
            throw new ArgumentOutOfRangeException(nameof(column), column, $"column must be in [0, {_columnNames.Length})");
    }

    private static bool TryParseNumber(string s, out double value) =>
        double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out value);

    private static char DetectDelimiter(string text, string sourceName)
    {
        string ext = Path.GetExtension(sourceName);
        if (ext.Equals(".tsv", StringComparison.OrdinalIgnoreCase) || ext.Equals(".tab", StringComparison.OrdinalIgnoreCase))
            return '\t';
        ReadOnlySpan<char> line = FirstNonBlankLine(text);
        if (line.Contains('\t'))
            return '\t';
        if (line.Contains(';') && !line.Contains(','))
            return ';';
        return ',';
    }

    private static ReadOnlySpan<char> FirstNonBlankLine(string text)
    {
        ReadOnlySpan<char> rest = text;
        while (rest.Length > 0)
        {
            int end = rest.IndexOfAny('\r', '\n');
            ReadOnlySpan<char> line = end < 0 ? rest : rest[..end];
            if (!line.IsWhiteSpace())
                return line;
            if (end < 0)
                break;
            rest = rest[(end + 1)..];
        }
        return [];
    }

    private static string Plural(int n) => n == 1 ? "" : "s";

    /// <summary>Shortens and escapes a cell for a message.</summary>
    private static string Clip(string s)
    {
        const int max = 40;
        string t = s.Length > max ? s[..max] + "…" : s;
        return t.Replace("\r", "\\r").Replace("\n", "\\n").Replace("\t", "\\t");
    }

    private static string Describe(string s) => $"'{Clip(s)}'";

    private readonly record struct Field(string Text, bool Quoted)
    {
        /// <summary>The stored cell: unquoted numbers lose their surrounding whitespace.</summary>
        public string Cell
        {
            get
            {
                if (Quoted || Text.Length == 0 || !(char.IsWhiteSpace(Text[0]) || char.IsWhiteSpace(Text[^1])))
                    return Text;
                string trimmed = Text.Trim();
                return TryParseNumber(trimmed, out _) ? trimmed : Text;
            }
        }
    }

    private sealed record Record(int Line, Field[] Fields)
    {
        /// <summary>A line with nothing but whitespace on it.</summary>
        public bool IsBlankLine => Fields.Length == 1 && !Fields[0].Quoted && string.IsNullOrWhiteSpace(Fields[0].Text);

        /// <summary>No field has any content (a blank line, or delimiters only, as spreadsheets export).</summary>
        public bool IsAllEmpty => Fields.All(f => !f.Quoted && string.IsNullOrWhiteSpace(f.Text));
    }

    private static List<Record> Tokenize(string text, string source, char delim)
    {
        var records = new List<Record>();
        var fields = new List<Field>();
        var sb = new StringBuilder();
        int n = text.Length, i = 0, line = 1;

        bool IsSpace(char c) => c != delim && (c == ' ' || c == '\t');
        // Tab-separated files follow the TSV convention: no quoting, a quote is text (sentences quote freely).
        bool quoting = delim != '\t';

        while (i < n)
        {
            int recordLine = line;
            fields.Clear();
            while (true)
            {
                int j = i;
                while (j < n && IsSpace(text[j]))
                    j++;
                if (quoting && j < n && text[j] == '"')
                {
                    int quoteLine = line;
                    int fieldNumber = fields.Count + 1;
                    j++;
                    sb.Clear();
                    while (true)
                    {
                        if (j >= n)
                            throw new InvalidInputException(
                                $"{source}:{quoteLine}: field {fieldNumber} opens a quote ('\"') on this line that is never closed " +
                                "(expected a closing '\"' before the end of the file)");
                        char c = text[j];
                        if (c == '"')
                        {
                            if (j + 1 < n && text[j + 1] == '"')
                            {
                                sb.Append('"');
                                j += 2;
                                continue;
                            }
                            j++;
                            break;
                        }
                        if (c == '\r' || c == '\n')
                        {
                            line++;
                            j += c == '\r' && j + 1 < n && text[j + 1] == '\n' ? 2 : 1;
                            sb.Append('\n');
                            continue;
                        }
                        sb.Append(c);
                        j++;
                    }
                    while (j < n && IsSpace(text[j]))
                        j++;
                    if (j < n && text[j] != delim && text[j] != '\r' && text[j] != '\n')
                    {
                        int stop = j;
                        while (stop < n && text[stop] != delim && text[stop] != '\r' && text[stop] != '\n')
                            stop++;
                        throw new InvalidInputException(
                            $"{source}:{line}: field {fieldNumber} is quoted, so expected a delimiter or the end of the line " +
                            $"after its closing quote but found '{Clip(text[j..stop])}' (write a quote inside a quoted field as \"\")");
                    }
                    fields.Add(new Field(sb.ToString(), Quoted: true));
                    i = j;
                }
                else
                {
                    int start = i;
                    while (i < n && text[i] != delim && text[i] != '\r' && text[i] != '\n')
                        i++;
                    fields.Add(new Field(text[start..i], Quoted: false));
                }

                if (i < n && text[i] == delim)
                {
                    i++;
                    continue;
                }
                if (i < n)
                {
                    i += text[i] == '\r' && i + 1 < n && text[i + 1] == '\n' ? 2 : 1;
                    line++;
                }
                break;
            }
            records.Add(new Record(recordLine, fields.ToArray()));
        }
        return records;
    }
}
