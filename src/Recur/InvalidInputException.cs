namespace Recur;

/// <summary>
/// A mistake in what the user supplied — a data file, a column, a flag, a model file — rather than a fault in
/// Recur. The message names the file and position or the argument, what was expected and what was found; the
/// command-line tool prints it alone and exits with code 2.
/// </summary>
public class InvalidInputException : Exception
{
    public InvalidInputException(string message) : base(message) { }

    public InvalidInputException(string message, Exception inner) : base(message, inner) { }
}
