namespace Recur.Data;

/// <summary>
/// Reads a whole data file as strict UTF-8 (a byte-order mark is dropped): bytes that are not UTF-8 are an error
/// naming the line and byte, never silently replaced.
/// </summary>
public static class TextFile
{
    /// <exception cref="InvalidInputException">The file is missing, a directory, unreadable or not UTF-8.</exception>
    public static string Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (Directory.Exists(path)) throw new InvalidInputException($"data file '{path}' is a directory, not a file");
        if (!File.Exists(path)) throw new InvalidInputException($"data file '{path}' does not exist");
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidInputException($"data file '{path}' cannot be read: {e.Message}", e);
        }
        return Decode(bytes, path);
    }

    /// <summary>Decodes UTF-8 bytes; <paramref name="source"/> names them in the error.</summary>
    public static string Decode(ReadOnlySpan<byte> bytes, string source)
    {
        if (bytes.StartsWith("\uFEFF"u8)) bytes = bytes[3..];
        var chars = new char[bytes.Length];
        var status = System.Text.Unicode.Utf8.ToUtf16(bytes, chars, out int read, out int written, replaceInvalidSequences: false);
        if (status == System.Buffers.OperationStatus.Done) return new string(chars, 0, written);
        // read stops at the first byte that does not start a valid sequence (or at a sequence cut off by the end).
        int line = 1;
        foreach (byte b in bytes[..read]) if (b == (byte)'\n') line++;
        throw new InvalidInputException(
            $"{source}:{line}: expected UTF-8 text; found byte 0x{bytes[read]:X2} at byte {read}, which is not valid UTF-8 (save the file as UTF-8).");
    }
}
