using System.Text;
using Recur.Data;
using Xunit;

namespace Recur.Tests.Data;

public class CsvTableTests
{
    private static InvalidInputException Fails(Action action) => Assert.Throws<InvalidInputException>(action);

    private static InvalidInputException ParseFails(string text, string source = "x.csv", bool hasHeader = true) =>
        Fails(() => CsvTable.Parse(text, source, hasHeader));

    /// <summary>A unique temporary file, deleted on dispose.</summary>
    private sealed class TempFile : IDisposable
    {
        public TempFile(string extension, byte[] contents)
        {
            Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"recur-csv-{Guid.NewGuid():N}{extension}");
            File.WriteAllBytes(Path, contents);
        }

        public TempFile(string extension, string contents) : this(extension, Encoding.UTF8.GetBytes(contents)) { }

        public string Path { get; }

        public void Dispose() => File.Delete(Path);
    }

    [Fact]
    public void Parse_SimpleTable()
    {
        CsvTable t = CsvTable.Parse("year,month,births\n1946,1,26663\n1946,2,23598\n", "births.csv");
        Assert.Equal("births.csv", t.Source);
        Assert.Equal(',', t.Delimiter);
        Assert.Equal(["year", "month", "births"], t.ColumnNames);
        Assert.Equal(2, t.RowCount);
        Assert.Equal(3, t.ColumnCount);
        Assert.Equal("23598", t.Cell(1, 2));
        Assert.Equal([26663.0, 23598.0], t.Numeric(2));
        Assert.Equal(["1", "2"], t.Text(1));
        Assert.Equal(2, t.LineNumber(0));
        Assert.Equal(3, t.LineNumber(1));
    }

    [Fact]
    public void Parse_QuotedFields_DelimiterDoubledQuotesAndNewlines_KeepLaterLineNumbers()
    {
        string text =
            "id,text,value\n" +                     // line 1
            "1,\"a, b\",10\n" +                       // line 2
            "2,\"she said \"\"hi\"\"\",20\n" +        // line 3
            "3,\"two\nlines\nhere\",30\n" +           // lines 4–6
            "4,plain,40\n" +                          // line 7
            "5,\"\",oops\n";                          // line 8
        CsvTable t = CsvTable.Parse(text, "q.csv");
        Assert.Equal(5, t.RowCount);
        Assert.Equal("a, b", t.Cell(0, 1));
        Assert.Equal("she said \"hi\"", t.Cell(1, 1));
        Assert.Equal("two\nlines\nhere", t.Cell(2, 1));
        Assert.Equal("", t.Cell(4, 1));
        Assert.Equal([2, 3, 4, 7, 8], Enumerable.Range(0, 5).Select(t.LineNumber));
        var e = Fails(() => t.Numeric(2));
        Assert.Equal("q.csv:8, column 'value': expected a number but found 'oops'", e.Message);
    }

    [Fact]
    public void Parse_QuotedNewlineWithCrLf_CountsOneLine()
    {
        CsvTable t = CsvTable.Parse("a,b\r\n\"x\r\ny\",1\r\nz,2\r\n", "c.csv");
        Assert.Equal("x\ny", t.Cell(0, 0));
        Assert.Equal(2, t.LineNumber(0));
        Assert.Equal(4, t.LineNumber(1));
    }

    [Fact]
    public void Parse_CrLf()
    {
        CsvTable t = CsvTable.Parse("a,b\r\n1,2\r\n3,4\r\n\r\n", "crlf.csv");
        Assert.Equal(["a", "b"], t.ColumnNames);
        Assert.Equal(2, t.RowCount);
        Assert.Equal("2", t.Cell(0, 1));
        Assert.Equal([2.0, 4.0], t.Numeric(1));
        Assert.Equal(3, t.LineNumber(1));
    }

    [Fact]
    public void Parse_TrailingEmptyLinesAndDelimiterOnlyLinesAreIgnored()
    {
        CsvTable t = CsvTable.Parse("a,b\n1,2\n\n,\n  \n\n", "t.csv");
        Assert.Equal(1, t.RowCount);
    }

    [Fact]
    public void Parse_TabDetection()
    {
        CsvTable byContent = CsvTable.Parse("label\ttext\n1\thello, world\n", "data.txt");
        Assert.Equal('\t', byContent.Delimiter);
        Assert.Equal("hello, world", byContent.Cell(0, 1));

        // a .tsv name selects the tab even when the first line has no tab (one column)
        CsvTable byName = CsvTable.Parse("text\nhello, world\n", "data.tsv");
        Assert.Equal('\t', byName.Delimiter);
        Assert.Equal(1, byName.ColumnCount);
        Assert.Equal("hello, world", byName.Cell(0, 0));
    }

    [Fact]
    public void Parse_SemicolonDetection_AndExplicitDelimiter()
    {
        CsvTable semi = CsvTable.Parse("a;b\n1;2\n", "s.csv");
        Assert.Equal(';', semi.Delimiter);
        Assert.Equal(2.0, semi.Numeric(1)[0]);

        // a comma on the first line keeps the comma
        Assert.Equal(',', CsvTable.Parse("a;x,b\n1,2\n", "s.csv").Delimiter);

        CsvTable pipe = CsvTable.Parse("a|b\n1|2\n", "p.csv", delimiter: '|');
        Assert.Equal('|', pipe.Delimiter);
        Assert.Equal(["a", "b"], pipe.ColumnNames);
    }

    [Fact]
    public void Parse_StripsBom()
    {
        CsvTable t = CsvTable.Parse("\uFEFFyear,value\n2000,1\n", "bom.csv");
        Assert.Equal("year", t.ColumnNames[0]);
        Assert.Equal(0, t.ColumnIndex("year"));
    }

    [Fact]
    public void Read_FileWithBomAndCrLf()
    {
        byte[] bytes = [0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes("Year,Value\r\n2000,1.5\r\n2001,2.5\r\n")];
        using var f = new TempFile(".csv", bytes);
        CsvTable t = CsvTable.Read(f.Path);
        Assert.Equal(f.Path, t.Source);
        Assert.Equal("Year", t.ColumnNames[0]);
        Assert.Equal([1.5, 2.5], t.Numeric(t.ColumnIndex("value")));
    }

    [Fact]
    public void Read_TsvFile()
    {
        using var f = new TempFile(".tsv", "a\tb\n1\t2\n3\t4");
        CsvTable t = CsvTable.Read(f.Path);
        Assert.Equal('\t', t.Delimiter);
        Assert.Equal([2.0, 4.0], t.Numeric(1));
        Assert.Equal(3, t.LineNumber(1));
    }

    [Fact]
    public void Read_MissingFile()
    {
        string path = Path.Combine(Path.GetTempPath(), $"recur-csv-{Guid.NewGuid():N}.csv");
        var e = Fails(() => CsvTable.Read(path));
        Assert.Equal($"data file '{path}' does not exist", e.Message);
    }

    [Fact]
    public void Read_EmptyFile_AndHeaderOnly()
    {
        using var empty = new TempFile(".csv", "");
        var e1 = Fails(() => CsvTable.Read(empty.Path));
        Assert.StartsWith($"{empty.Path} has no data rows", e1.Message);

        using var header = new TempFile(".csv", "a,b,c\n");
        var e2 = Fails(() => CsvTable.Read(header.Path));
        Assert.StartsWith($"{header.Path} has no data rows", e2.Message);
    }

    [Fact]
    public void Read_WrongFieldCount_NamesFileAndLine()
    {
        var sb = new StringBuilder("a,b,c,d,e\n");
        for (int i = 2; i < 17; i++)
            sb.Append("1,2,3,4,5\n");
        sb.Append("1,2,3,4\n"); // line 17
        using var f = new TempFile(".csv", sb.ToString());
        var e = Fails(() => CsvTable.Read(f.Path));
        Assert.Equal($"{f.Path}:17: expected 5 fields (as in the header) but found 4", e.Message);
    }

    [Fact]
    public void Parse_WrongFieldCount_AfterQuotedNewline()
    {
        var e = ParseFails("a,b\n\"x\ny\",1\n1,2,3\n");
        Assert.Equal("x.csv:4: expected 2 fields (as in the header) but found 3", e.Message);
    }

    [Fact]
    public void Parse_UnterminatedQuote_NamesTheLineItOpensOn()
    {
        var e = ParseFails("a,b\n1,2\n3,\"never closed\n4,5\n6,7\n");
        Assert.StartsWith("x.csv:3: field 2 opens a quote", e.Message);
        Assert.Contains("never closed", e.Message);
    }

    [Fact]
    public void Parse_TextAfterClosingQuote()
    {
        var e = ParseFails("a,b\n1,\"x\"y\n");
        Assert.StartsWith("x.csv:2: field 2 is quoted", e.Message);
        Assert.Contains("found 'y'", e.Message);
    }

    [Fact]
    public void Numeric_NotANumber_NamesLineColumnAndText()
    {
        var sb = new StringBuilder("year,births\n");
        for (int i = 2; i < 42; i++)
            sb.Append("1946,100\n");
        sb.Append("1947,abc\n"); // line 42
        var t = CsvTable.Parse(sb.ToString(), "x.csv");
        var e = Fails(() => t.Numeric(1));
        Assert.Equal("x.csv:42, column 'births': expected a number but found 'abc'", e.Message);
    }

    [Theory]
    [InlineData("", "missing value (empty)")]
    [InlineData("  ", "missing value (empty)")]
    [InlineData("NA", "missing value ('NA')")]
    [InlineData("NaN", "missing value ('NaN')")]
    [InlineData("null", "missing value ('null')")]
    [InlineData("?", "missing value ('?')")]
    [InlineData("Infinity", "expected a finite number but found 'Infinity'")]
    [InlineData("-Infinity", "expected a finite number but found '-Infinity'")]
    [InlineData("1e999", "expected a finite number but found '1e999'")]
    [InlineData("1,234", "expected a number but found '1,234'")]
    [InlineData("12abc", "expected a number but found '12abc'")]
    public void Numeric_MissingOrInvalid(string cell, string expected)
    {
        var t = CsvTable.Parse($"t;births\n1;5\n2;{cell}\n", "x.csv");
        var e = Fails(() => t.Numeric(1));
        Assert.StartsWith($"x.csv:3, column 'births': {expected}", e.Message);
    }

    [Fact]
    public void Numeric_AcceptsSignsExponentsAndSpaces()
    {
        var t = CsvTable.Parse("v\n+1.5\n-2\n 3e2 \n1.5E-3\n.5\n\" 7 \"\n", "x.csv");
        Assert.Equal([1.5, -2, 300, 0.0015, 0.5, 7], t.Numeric(0));
        Assert.Equal("3e2", t.Cell(2, 0)); // unquoted numeric cell trimmed
    }

    [Fact]
    public void Parse_NoHeader_ColumnsAreIndices()
    {
        var t = CsvTable.Parse("1,2,3\n4,5,6\n", "n.csv", hasHeader: false);
        Assert.Equal(["0", "1", "2"], t.ColumnNames);
        Assert.Equal(2, t.RowCount);
        Assert.Equal(1, t.LineNumber(0));
        Assert.Equal(2, t.ColumnIndex("2"));
        Assert.Equal([3.0, 6.0], t.Numeric(t.ColumnIndex("2")));
        var bad = Fails(() => t.ColumnIndex("3"));
        Assert.StartsWith("n.csv has no column 3", bad.Message);
        var name = Fails(() => t.ColumnIndex("value"));
        Assert.Equal("n.csv has no column 'value'; columns are: 0, 1, 2", name.Message);

        var e = Fails(() => CsvTable.Parse("1,2,3\n4,5\n", "n.csv", hasHeader: false));
        Assert.Equal("n.csv:2: expected 3 fields (as in the first row, line 1) but found 2", e.Message);
    }

    [Fact]
    public void ColumnIndex_ExactCaseInsensitiveAndIndex()
    {
        var t = CsvTable.Parse("Year,month,births\n1946,1,26663\n", "x.csv");
        Assert.Equal(0, t.ColumnIndex("Year"));
        Assert.Equal(0, t.ColumnIndex("year"));
        Assert.Equal(2, t.ColumnIndex("BIRTHS"));
        Assert.Equal(1, t.ColumnIndex("1"));
        var e = Fails(() => t.ColumnIndex("foo"));
        Assert.Equal("x.csv has no column 'foo'; columns are: Year, month, births", e.Message);
        var range = Fails(() => t.ColumnIndex("3"));
        Assert.StartsWith("x.csv has no column 3: it has 3 columns", range.Message);
    }

    [Fact]
    public void ColumnIndex_NumericHeaderNameWinsOverIndex()
    {
        var t = CsvTable.Parse("a,0,b\n1,2,3\n", "x.csv");
        Assert.Equal(1, t.ColumnIndex("0"));
        Assert.Equal(2, t.ColumnIndex("2"));
    }

    [Fact]
    public void ColumnIndex_Duplicates()
    {
        var t = CsvTable.Parse("value,Value,x,x\n1,2,3,4\n", "d.csv");
        Assert.Equal(0, t.ColumnIndex("value"));
        Assert.Equal(1, t.ColumnIndex("Value"));
        var folded = Fails(() => t.ColumnIndex("VALUE"));
        Assert.StartsWith("d.csv: column 'VALUE' is ambiguous", folded.Message);
        var exact = Fails(() => t.ColumnIndex("x"));
        Assert.StartsWith("d.csv: column 'x' is ambiguous", exact.Message);
        Assert.Contains("(index 2)", exact.Message);
        Assert.Contains("(index 3)", exact.Message);
    }

    [Fact]
    public void ColumnIndex_UnknownColumn_ListsAtMostTwentyNames()
    {
        string header = string.Join(",", Enumerable.Range(0, 25).Select(i => $"c{i}"));
        string row = string.Join(",", Enumerable.Range(0, 25));
        var t = CsvTable.Parse($"{header}\n{row}\n", "w.csv");
        var e = Fails(() => t.ColumnIndex("foo"));
        Assert.Contains("c19, … (5 more)", e.Message);
        Assert.DoesNotContain("c20", e.Message);
    }

    [Fact]
    public void Parse_BlankLineInside_SkippedForManyColumns_MissingForOneColumn()
    {
        var many = CsvTable.Parse("a,b\n1,2\n\n3,4\n", "m.csv");
        Assert.Equal(2, many.RowCount);
        Assert.Equal(4, many.LineNumber(1));

        var one = CsvTable.Parse("v\n1\n\n3\n", "o.csv");
        Assert.Equal(3, one.RowCount);
        var e = Fails(() => one.Numeric(0));
        Assert.Equal("o.csv:3, column 'v': missing value (empty); fill it, or choose a policy with --missing interpolate|ffill|drop", e.Message);
    }
}
