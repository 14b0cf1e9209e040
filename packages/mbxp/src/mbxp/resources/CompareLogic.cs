// Minimal stand-in for KellermanSoftware.CompareNetObjects (NuGet, unreachable here): the MBXP C#
// tests only call new CompareLogic().Compare(actual, expected).AreEqual. Deep structural equality:
// same runtime type, then dictionaries by key, sequences element-wise, tuples field-wise, else Equals.
using System;
using System.Collections;
using System.Reflection;

namespace KellermanSoftware.CompareNetObjects
{
    public class ComparisonResult
    {
        public bool AreEqual { get; set; }
        public string DifferencesString { get; set; }
    }

    public class CompareLogic
    {
        public ComparisonResult Compare(object expected, object actual)
        {
            bool eq = Same(expected, actual);
            return new ComparisonResult { AreEqual = eq, DifferencesString = eq ? "" : "objects differ" };
        }

        static bool Same(object a, object b)
        {
            if (a == null || b == null) return a == null && b == null;
            Type ta = a.GetType(), tb = b.GetType();
            if (ta != tb) return false;
            if (a is string) return a.Equals(b);
            if (a is IDictionary)
            {
                IDictionary da = (IDictionary)a, db = (IDictionary)b;
                if (da.Count != db.Count) return false;
                foreach (DictionaryEntry e in da)
                {
                    if (!db.Contains(e.Key)) return false;
                    if (!Same(e.Value, db[e.Key])) return false;
                }
                return true;
            }
            if (a is IEnumerable)
            {
                IEnumerator ea = ((IEnumerable)a).GetEnumerator(), eb = ((IEnumerable)b).GetEnumerator();
                while (true)
                {
                    bool ma = ea.MoveNext(), mb = eb.MoveNext();
                    if (ma != mb) return false;
                    if (!ma) return true;
                    if (!Same(ea.Current, eb.Current)) return false;
                }
            }
            if (ta.IsGenericType && ta.FullName.StartsWith("System.ValueTuple") || ta.FullName.StartsWith("System.Tuple"))
            {
                foreach (FieldInfo f in ta.GetFields()) if (!Same(f.GetValue(a), f.GetValue(b))) return false;
                foreach (PropertyInfo p in ta.GetProperties()) if (p.GetIndexParameters().Length == 0 && !Same(p.GetValue(a, null), p.GetValue(b, null))) return false;
                return true;
            }
            return a.Equals(b);
        }
    }
}
