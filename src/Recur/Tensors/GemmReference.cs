using System.Numerics;

namespace Recur.Tensors;

/// <summary>
/// The plain matrix product that every fast GEMM is held to, generic over the number type so it also runs in
/// double for finite-difference checks.
/// </summary>
public static class GemmReference
{
    /// <summary>
    /// C = op(A)·op(B) (+ C when <paramref name="accumulate"/>), all row-major with leading dimensions.
    /// op(A) is [M, K]: A is stored [M, K] (lda ≥ K), or [K, M] (lda ≥ M) when <paramref name="transposeA"/>.
    /// op(B) is [K, N]: B is stored [K, N] (ldb ≥ N), or [N, K] (ldb ≥ K) when <paramref name="transposeB"/>.
    /// C is [M, N] (ldc ≥ N). Sums run over k in increasing order.
    /// </summary>
    public static void Multiply<T>(
        bool transposeA, bool transposeB, int m, int n, int k,
        ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb,
        Span<T> c, int ldc, bool accumulate)
        where T : INumberBase<T>
    {
        Gemm.CheckArguments(transposeA, transposeB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                T sum = T.Zero;
                for (int p = 0; p < k; p++)
                {
                    T av = transposeA ? a[p * lda + i] : a[i * lda + p];
                    T bv = transposeB ? b[j * ldb + p] : b[p * ldb + j];
                    sum += av * bv;
                }
                ref T cij = ref c[i * ldc + j];
                cij = accumulate ? cij + sum : sum;
            }
        }
    }
}
