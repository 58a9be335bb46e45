using System.Globalization;
using Recur.Data;

namespace Recur.Cli.Reporting;

/// <summary>One CSV file of a run directory, read with <see cref="CsvTable"/>, with columns looked up by name.</summary>
internal sealed class RunTable
{
    private readonly CsvTable _table;

    private RunTable(CsvTable table) => _table = table;

    public int RowCount => _table.RowCount;

    /// <summary>Whether the file has a column of this name.</summary>
    public bool Has(string column) => _table.ColumnNames.Contains(column);

    /// <summary>Reads <paramref name="name"/> in <paramref name="runDir"/>, or null when the run has no such file.</summary>
    public static RunTable? TryRead(string runDir, string name)
    {
        string path = Path.Combine(runDir, name);
        if (!File.Exists(path)) return null;
        try
        {
            return new RunTable(CsvTable.Read(path, hasHeader: true, delimiter: ','));
        }
        catch (InvalidInputException) when (File.ReadLines(path).Skip(1).All(string.IsNullOrWhiteSpace))
        {
            return null; // a header alone: nothing to draw
        }
    }

    /// <summary>
    /// A column as numbers. Unlike <see cref="CsvTable.Numeric"/>, "NaN" and infinities are accepted (a run writes
    /// NaN for a loss it could not compute) and come back as they are.
    /// </summary>
    public double[] Numbers(string column)
    {
        int c = _table.ColumnIndex(column);
        var values = new double[_table.RowCount];
        for (int r = 0; r < values.Length; r++)
        {
            string cell = _table.Cell(r, c).Trim();
            if (!double.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out values[r]))
                throw new InvalidInputException($"{_table.Source}:{_table.LineNumber(r)}: column '{column}': expected a number but found '{cell}'");
        }
        return values;
    }

    /// <summary>A column as whole numbers.</summary>
    public int[] Integers(string column)
    {
        double[] values = Numbers(column);
        var result = new int[values.Length];
        for (int r = 0; r < values.Length; r++)
        {
            if (!(Math.Abs(values[r]) <= int.MaxValue) || Math.Round(values[r]) != values[r])
                throw new InvalidInputException($"{_table.Source}:{_table.LineNumber(r)}: column '{column}': expected a whole number but found '{_table.Cell(r, _table.ColumnIndex(column)).Trim()}'");
            result[r] = (int)values[r];
        }
        return result;
    }

    /// <summary>A column as text.</summary>
    public string[] Text(string column) => _table.Text(_table.ColumnIndex(column));
}
