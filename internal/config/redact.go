package config

import "reflect"

const redactedText = "[redacted]"

// redact returns a deep copy of v in which every non-empty string field
// tagged `secret:"true"` reads "[redacted]". Slices, maps, pointers and
// interface values are copied so the original is never modified.
func redact(v any) any {
	out := reflect.New(reflect.TypeOf(v)).Elem()
	redactValue(out, reflect.ValueOf(v))
	return out.Interface()
}

func redactValue(dst, src reflect.Value) {
	switch src.Kind() {
	case reflect.Struct:
		t := src.Type()
		for i := 0; i < src.NumField(); i++ {
			if !t.Field(i).IsExported() {
				continue
			}
			if t.Field(i).Tag.Get("secret") == "true" && src.Field(i).Kind() == reflect.String && src.Field(i).Len() > 0 {
				dst.Field(i).SetString(redactedText)
				continue
			}
			redactValue(dst.Field(i), src.Field(i))
		}
	case reflect.Slice:
		if src.IsNil() {
			return
		}
		s := reflect.MakeSlice(src.Type(), src.Len(), src.Len())
		for i := 0; i < src.Len(); i++ {
			redactValue(s.Index(i), src.Index(i))
		}
		dst.Set(s)
	case reflect.Map:
		if src.IsNil() {
			return
		}
		m := reflect.MakeMapWithSize(src.Type(), src.Len())
		for it := src.MapRange(); it.Next(); {
			e := reflect.New(src.Type().Elem()).Elem()
			redactValue(e, it.Value())
			m.SetMapIndex(it.Key(), e)
		}
		dst.Set(m)
	case reflect.Pointer:
		if src.IsNil() {
			return
		}
		p := reflect.New(src.Type().Elem())
		redactValue(p.Elem(), src.Elem())
		dst.Set(p)
	case reflect.Interface:
		// A sink's section (sinks.Section holding a *loki.Config).
		if src.IsNil() {
			return
		}
		e := reflect.New(src.Elem().Type()).Elem()
		redactValue(e, src.Elem())
		dst.Set(e)
	default:
		dst.Set(src)
	}
}
